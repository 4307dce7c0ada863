#!/usr/bin/env node
// tests/node/faultproxy.js - HTTP forwarding proxy that injects faults.
//
//   node faultproxy.js --target http://127.0.0.1:PORT --port-file FILE [options]
//
// Forwards every request (method, path, headers incl. Host, body streamed)
// to --target and streams the answer back, except when a fault applies.
// Faults only apply to requests whose method is in --methods (default: all)
// and whose path matches --match REGEX (default: all); "the n-th request"
// counts only those.  Faults, checked in this order:
//   --reset-first K       destroy the client connection at once (no response)
//                         for the first K requests (ECONNRESET / empty reply)
//   --hang-first K        never answer the first K requests (client timeouts)
//   --fail-first K        answer the first K requests with --fail-status
//   --fail-status S       (default 503) and an S3-style XML error body:
//                         500 InternalError, 503 SlowDown, 403 AccessDenied,
//                         404 NoSuchKey, other: InternalError
//   --delay-ms N          wait N ms before forwarding
//   --cut-after N         forward only the first N bytes of the response
//                         body, then drop the connection (the client sees a
//                         short body vs Content-Length: "transfer closed")
//   --cut-count K         ... for the first K eligible responses only (default:
//                         every response); only 2xx responses with a body
//                         longer than N bytes are cut
//   --corrupt-at OFFSET   flip the lowest bit of the byte at body OFFSET in
//                         2xx responses (length unchanged: silent corruption)
//   --corrupt-count K     ... for the first K eligible responses (default all)
//   --methods GET,HEAD    which methods faults apply to (default: all)
//   --match REGEX         which paths faults apply to (default: all)
//   --port N              listen port (default 0: kernel picks; see --port-file)
//   --log FILE            one JSON line per request
//   --parent-pid PID      exit when PID is gone
//
// Control endpoint (never forwarded; "__" is not a valid bucket name):
//   GET  /__faultproxy            {"config": {...}, "stats": {...}}
//   POST /__faultproxy  JSON      merge into the config and reset all counters
//        keys: resetFirst hangFirst failFirst failStatus delayMs cutAfter
//              cutCount corruptAt corruptCount methods (array) match (string)
//        {"clear": true} removes every fault first.
//   stats: requests, matched, forwarded, failed, reset, hung, cut, corrupted
'use strict';

const fs = require('fs');
const http = require('http');

function usage(msg) {
  process.stderr.write(`faultproxy.js: ${msg}\n`);
  process.exit(2);
}

const DEFAULTS = {
  resetFirst: 0, hangFirst: 0, failFirst: 0, failStatus: 503, delayMs: 0,
  cutAfter: null, cutCount: null, corruptAt: null, corruptCount: null,
  methods: null, match: null,
};
let config = { ...DEFAULTS };
const opts = { port: 0 };
const argv = process.argv.slice(2);
const num = (a, v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) usage(`${a} wants a non-negative integer, got ${v}`);
  return n;
};
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  switch (a) {
    case '--target': opts.target = val(); break;
    case '--port-file': opts.portFile = val(); break;
    case '--port': opts.port = num(a, val()); break;
    case '--log': opts.log = val(); break;
    case '--parent-pid': opts.parentPid = num(a, val()); break;
    case '--reset-first': config.resetFirst = num(a, val()); break;
    case '--hang-first': config.hangFirst = num(a, val()); break;
    case '--fail-first': config.failFirst = num(a, val()); break;
    case '--fail-status': config.failStatus = num(a, val()); break;
    case '--delay-ms': config.delayMs = num(a, val()); break;
    case '--cut-after': config.cutAfter = num(a, val()); break;
    case '--cut-count': config.cutCount = num(a, val()); break;
    case '--corrupt-at': config.corruptAt = num(a, val()); break;
    case '--corrupt-count': config.corruptCount = num(a, val()); break;
    case '--methods': config.methods = val().toUpperCase().split(',').filter(Boolean); break;
    case '--match': config.match = val(); break;
    default: usage(`unknown argument ${a}`);
  }
}
if (!opts.target) usage('--target is required');
const target = new URL(opts.target);
if (target.protocol !== 'http:') usage('--target must be an http:// URL');
if (config.match) {
  try { new RegExp(config.match); } catch (e) { usage(`bad --match: ${e.message}`); }
}

let stats;
let counters;
function resetCounters() {
  stats = { requests: 0, matched: 0, forwarded: 0, failed: 0, reset: 0, hung: 0, cut: 0, corrupted: 0 };
  counters = { matched: 0, cut: 0, corrupted: 0 };
}
resetCounters();

const logStream = opts.log ? fs.createWriteStream(opts.log, { flags: 'a' }) : null;
function log(entry) {
  if (logStream) logStream.write(JSON.stringify({ ts: new Date().toISOString(), ...entry }) + '\n');
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const hung = new Set();

const S3_CODES = { 500: 'InternalError', 503: 'SlowDown', 403: 'AccessDenied', 404: 'NoSuchKey' };
function s3Error(status) {
  const code = S3_CODES[status] || 'InternalError';
  return '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>Injected fault (faultproxy): HTTP ${status}</Message>` +
    '<RequestId>faultproxy</RequestId></Error>\n';
}

function control(req, res) {
  const send = (status, obj) => {
    const body = JSON.stringify(obj, null, 1) + '\n';
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  if (req.method === 'GET') return send(200, { config, stats });
  if (req.method !== 'POST' && req.method !== 'PUT') return send(405, { error: 'GET or POST' });
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let patch;
    try {
      patch = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new Error('not an object');
      if (patch.match) new RegExp(patch.match);
    } catch (e) {
      return send(400, { error: `bad JSON config: ${e.message}` });
    }
    const base = patch.clear ? { ...DEFAULTS } : config;
    delete patch.clear;
    for (const k of Object.keys(patch)) {
      if (!(k in DEFAULTS)) return send(400, { error: `unknown key ${k}` });
    }
    config = { ...base, ...patch };
    if (Array.isArray(config.methods)) config.methods = config.methods.map((m) => String(m).toUpperCase());
    resetCounters();
    log({ control: config });
    return send(200, { config, stats });
  });
}

function applies(req) {
  if (config.methods && !config.methods.includes(req.method)) return false;
  if (config.match && !new RegExp(config.match).test(req.url)) return false;
  return true;
}

const server = http.createServer((req, res) => {
  if (req.url === '/__faultproxy' || req.url.startsWith('/__faultproxy?')) return control(req, res);
  stats.requests++;
  const entry = { method: req.method, url: req.url };
  let n = 0;
  if (applies(req)) {
    n = ++counters.matched;
    stats.matched++;
  }
  entry.n = n;
  if (n && n <= config.resetFirst) {
    stats.reset++;
    log({ ...entry, fault: 'reset' });
    req.socket.destroy();
    return;
  }
  if (n && n <= config.hangFirst) {
    stats.hung++;
    log({ ...entry, fault: 'hang' });
    req.resume();
    hung.add(req.socket);
    req.socket.on('close', () => hung.delete(req.socket));
    return;
  }
  if (n && n <= config.failFirst) {
    stats.failed++;
    log({ ...entry, fault: 'fail', status: config.failStatus });
    const body = s3Error(config.failStatus);
    req.resume();
    res.writeHead(config.failStatus, {
      'content-type': 'application/xml',
      'content-length': Buffer.byteLength(body),
      'x-amz-request-id': 'faultproxy',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  const go = () => forward(req, res, n, entry);
  if (n && config.delayMs > 0) setTimeout(go, config.delayMs);
  else go();
});

function forward(req, res, n, entry) {
  stats.forwarded++;
  const upstream = http.request({
    host: target.hostname,
    port: target.port || 80,
    method: req.method,
    path: req.url,
    headers: req.headers, // Host included, unchanged
    agent,
  });
  upstream.on('response', (ures) => {
    const ok = ures.statusCode >= 200 && ures.statusCode < 300;
    const cut = n && ok && config.cutAfter !== null &&
      (config.cutCount === null || counters.cut < config.cutCount);
    const corrupt = n && ok && config.corruptAt !== null &&
      (config.corruptCount === null || counters.corrupted < config.corruptCount);
    if (corrupt) counters.corrupted++;
    if (cut) counters.cut++; // budget taken when the response starts
    res.writeHead(ures.statusCode, ures.statusMessage, ures.rawHeaders);
    let sent = 0;
    let done = false;
    ures.on('data', (chunk) => {
      if (done) return;
      let buf = chunk;
      if (corrupt && config.corruptAt >= sent && config.corruptAt < sent + buf.length) {
        buf = Buffer.from(buf);
        buf[config.corruptAt - sent] ^= 0x01;
        stats.corrupted++;
        log({ ...entry, fault: 'corrupt', offset: config.corruptAt });
      }
      if (cut && sent + buf.length > config.cutAfter) {
        const keep = buf.subarray(0, config.cutAfter - sent);
        done = true;
        stats.cut++;
        log({ ...entry, fault: 'cut', after: config.cutAfter });
        const kill = () => {
          res.socket && res.socket.destroy();
          ures.destroy();
        };
        if (keep.length) res.write(keep, kill);
        else kill();
        return;
      }
      sent += buf.length;
      if (!res.write(buf)) {
        ures.pause();
        res.once('drain', () => ures.resume());
      }
    });
    ures.on('end', () => {
      if (done) return;
      res.end();
      log({ ...entry, status: ures.statusCode, bytes: sent });
    });
    ures.on('error', () => res.socket && res.socket.destroy());
  });
  upstream.on('error', (err) => {
    log({ ...entry, upstreamError: err.message });
    if (!res.headersSent) {
      const body = s3Error(503);
      res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else if (res.socket) {
      res.socket.destroy();
    }
  });
  req.pipe(upstream);
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
}

server.keepAliveTimeout = 5000;

function shutdown() {
  for (const s of hung) s.destroy();
  server.close(() => process.exit(0));
  server.closeAllConnections && server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (opts.parentPid) {
  setInterval(() => {
    try { process.kill(opts.parentPid, 0); } catch (e) { shutdown(); }
  }, 1000).unref();
}

server.listen(opts.port, '127.0.0.1', () => {
  const port = server.address().port;
  if (opts.portFile) {
    const tmp = `${opts.portFile}.tmp${process.pid}`;
    fs.writeFileSync(tmp, `${port}\n`);
    fs.renameSync(tmp, opts.portFile);
  }
  process.stderr.write(`faultproxy.js: listening on http://127.0.0.1:${port} -> ${opts.target} ${JSON.stringify(config)}\n`);
});
server.on('error', (err) => {
  process.stderr.write(`faultproxy.js: ${err.message}\n`);
  process.exit(1);
});
