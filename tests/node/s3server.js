#!/usr/bin/env node
// tests/node/s3server.js - launch s3rver (a real S3-protocol server) for tests.
//
//   node s3server.js --directory DIR --port-file FILE [--port 0] [--address 127.0.0.1]
//                    [--bucket NAME]... [--key ID:SECRET]... [--keep-default-key]
//                    [--parent-pid PID]
//
// Access keys: s3rver keeps accepted access key ids in a process-wide registry
// (s3rver/lib/models/account.js: AWSAccount.registry, filled by
// DUMMY_ACCOUNT.createKeyPair(id, secret)).  The authentication middleware
// answers 403 InvalidAccessKeyId for any id not in it.  It verifies the
// secret only for SigV2 signatures; SigV4 signatures are NOT checked (any
// secret works).  The built-in S3RVER/S3RVER pair is revoked unless
// --keep-default-key, so only the --key ids are accepted.  Requests without
// any signature are anonymous and allowed (s3rver has no ACLs).
//
// Once listening, writes the bound port to --port-file (atomically) so the
// caller never races for a port (default --port 0: the kernel picks).
// Exits on SIGTERM/SIGINT, and when --parent-pid disappears.
'use strict';

const fs = require('fs');
const path = require('path');

function usage(msg) {
  process.stderr.write(`s3server.js: ${msg}\n`);
  process.exit(2);
}

const opts = { port: 0, address: '127.0.0.1', buckets: [], keys: [], keepDefault: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  switch (a) {
    case '--directory': opts.directory = val(); break;
    case '--port-file': opts.portFile = val(); break;
    case '--port': opts.port = Number(val()); break;
    case '--address': opts.address = val(); break;
    case '--bucket': opts.buckets.push(val()); break;
    case '--key': {
      const kv = val();
      const idx = kv.indexOf(':');
      if (idx <= 0) usage(`--key wants ID:SECRET, got ${kv}`);
      opts.keys.push([kv.slice(0, idx), kv.slice(idx + 1)]);
      break;
    }
    case '--keep-default-key': opts.keepDefault = true; break;
    case '--parent-pid': opts.parentPid = Number(val()); break;
    default: usage(`unknown argument ${a}`);
  }
}
if (!opts.directory) usage('--directory is required');
if (!opts.portFile) usage('--port-file is required');

const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');

for (const [id, secret] of opts.keys) AWSAccount.DUMMY_ACCOUNT.createKeyPair(id, secret);
if (!opts.keepDefault) AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');

fs.mkdirSync(opts.directory, { recursive: true });

const server = new S3rver({
  port: opts.port,
  address: opts.address,
  directory: opts.directory,
  silent: true,
  resetOnClose: false,
  configureBuckets: opts.buckets.map((name) => ({ name })),
});

function shutdown(code) {
  const done = () => process.exit(code);
  try {
    server.close().then(done, done);
  } catch (e) {
    done();
  }
  setTimeout(done, 2000).unref();
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));

if (opts.parentPid) {
  setInterval(() => {
    try {
      process.kill(opts.parentPid, 0);
    } catch (e) {
      shutdown(0);
    }
  }, 1000).unref();
}

server.run().then(
  (addr) => {
    const tmp = `${opts.portFile}.tmp${process.pid}`;
    fs.writeFileSync(tmp, `${addr.port}\n`);
    fs.renameSync(tmp, opts.portFile);
    process.stderr.write(
      `s3server.js: listening on http://${addr.address}:${addr.port}, directory ${path.resolve(opts.directory)}, ` +
        `buckets [${opts.buckets.join(', ')}], keys [${opts.keys.map((k) => k[0]).join(', ')}]\n`,
    );
  },
  (err) => {
    process.stderr.write(`s3server.js: cannot start: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
