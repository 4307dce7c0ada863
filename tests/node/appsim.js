#!/usr/bin/env node
// tests/node/appsim.js - an application simulator for the maintenance tests:
// it writes rows into PostgreSQL continuously, and before every write reads
// the maintenance flag the way an application's middleware would. When the
// flag is on it does not write ("gated"); when it cannot read the flag it
// does what its declared fail mode says: closed = behave as in maintenance,
// open = keep serving (write). Every decision is logged, and every write
// lands as a row (seq, written_at, decision), so tests can show which writes
// landed before the freeze and what happened while the store was down.
//
//   node appsim.js --psql PSQL --dsn DSN --table NAME --fail open|closed
//                  --flag http:URL[,TOKEN] | redis:HOST:PORT:KEY | file:PATH | pg:TABLE:NAME
//                  [--interval-ms 20] [--log FILE] [--port-file FILE] [--parent-pid PID]
//                  [--reconnect]
// Writes go through one long-running psql (stdin), so a write costs one
// statement, not a process. With pg:TABLE:NAME the flag is read in the
// INSERT itself (INSERT ... WHERE NOT enabled), as an application reading a
// flag row would. The flag document of http/redis/file is
// {"maintenanceMode": bool, ...}; redis may also hold 1/0.
'use strict';

const fs = require('fs');
const net = require('net');
const { spawn } = require('child_process');

const opts = { intervalMs: 20 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const v = () => argv[++i];
  switch (a) {
    case '--psql': opts.psql = v(); break;
    case '--dsn': opts.dsn = v(); break;
    case '--table': opts.table = v(); break;
    case '--fail': opts.fail = v(); break;
    case '--flag': opts.flag = v(); break;
    case '--interval-ms': opts.intervalMs = Number(v()); break;
    case '--log': opts.log = v(); break;
    case '--port-file': opts.portFile = v(); break;
    case '--parent-pid': opts.parentPid = Number(v()); break;
    case '--reconnect': opts.reconnect = true; break;
    default:
      process.stderr.write(`appsim.js: unknown argument ${a}\n`);
      process.exit(2);
  }
}
if (!opts.psql || !opts.dsn || !opts.table || !['open', 'closed'].includes(opts.fail) || !opts.flag) {
  process.stderr.write('appsim.js: --psql, --dsn, --table, --fail open|closed and --flag are required\n');
  process.exit(2);
}

const logFd = opts.log ? fs.openSync(opts.log, 'a') : null;
function log(o) {
  if (logFd !== null) fs.writeSync(logFd, JSON.stringify({ t: new Date().toISOString(), ...o }) + '\n');
}

// With --reconnect a psql that exits (the server restarted, as a
// point-in-time restore does) is started again after half a second, as an
// application's connection pool would; otherwise the simulator exits.
let psql;
function startPsql() {
  psql = spawn(opts.psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=0', opts.dsn], { stdio: ['pipe', 'ignore', 'inherit'] });
  psql.stdin.on('error', () => {});
  psql.on('exit', (code) => {
    process.stderr.write(`appsim.js: psql exited ${code}\n`);
    if (!opts.reconnect) process.exit(1);
    log({ event: 'reconnect' });
    setTimeout(startPsql, 500);
  });
}
startPsql();
const ident = (s) => '"' + s.replace(/"/g, '""') + '"';
psql.stdin.write(`CREATE TABLE IF NOT EXISTS ${ident(opts.table)} (seq int PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp(), decision text NOT NULL);\n`);

function flagOn(doc) {
  const v = doc && typeof doc === 'object' ? doc.maintenanceMode : doc;
  if (v === true || v === 1 || v === '1' || v === 'true' || v === 'on') return true;
  if (v === false || v === 0 || v === '0' || v === 'false' || v === 'off' || v === null || v === undefined) return false;
  throw new Error(`not a flag: ${JSON.stringify(v)}`);
}

function redisGet(host, port, key) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ host, port });
    let buf = '';
    s.setTimeout(1000, () => { s.destroy(); reject(new Error('timeout')); });
    s.on('error', reject);
    s.on('connect', () => s.write(`*2\r\n$3\r\nGET\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`));
    s.on('data', (d) => {
      buf += d.toString('utf8');
      if (buf.startsWith('$-1\r\n')) { s.end(); return resolve(null); }
      const m = /^\$(\d+)\r\n/.exec(buf);
      if (m && buf.length >= m[0].length + Number(m[1]) + 2) {
        s.end();
        return resolve(buf.substr(m[0].length, Number(m[1])));
      }
      if (buf.startsWith('-')) { s.end(); reject(new Error(buf.trim())); }
    });
  });
}

// Resolves to true (on) / false (off); rejects when the store cannot be read.
async function readFlag() {
  const [kind, ...rest] = opts.flag.split(':');
  const spec = rest.join(':');
  if (kind === 'http') {
    const [url, token] = spec.split(',');
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 1000);
    try {
      const r = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: ctl.signal });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return flagOn(JSON.parse(await r.text()));
    } finally {
      clearTimeout(timer);
    }
  }
  if (kind === 'redis') {
    const [host, port, ...k] = spec.split(':');
    const v = await redisGet(host, Number(port), k.join(':'));
    if (v === null) return false;
    try {
      return flagOn(JSON.parse(v));
    } catch (e) {
      return flagOn(v);
    }
  }
  if (kind === 'file') {
    let text;
    try {
      text = fs.readFileSync(spec, 'utf8');
    } catch (e) {
      if (e.code === 'ENOENT') return false;
      throw e;
    }
    return flagOn(JSON.parse(text));
  }
  throw new Error(`unknown flag kind ${kind}`);
}

let seq = 0;
async function tick() {
  seq++;
  const [kind, ...rest] = opts.flag.split(':');
  if (kind === 'pg') {
    const [table, name] = rest;
    // The application reads the flag row in the same statement; a missing
    // table or row means "not in maintenance".
    psql.stdin.write(`INSERT INTO ${ident(opts.table)} (seq, decision) SELECT ${seq}, 'write' WHERE NOT coalesce((SELECT enabled FROM ${ident(table)} WHERE name = '${name.replace(/'/g, "''")}'), false);\n`);
    log({ seq, decision: 'pg-conditional' });
    return;
  }
  let decision;
  try {
    decision = (await readFlag()) ? 'gated' : 'write';
  } catch (e) {
    decision = opts.fail === 'open' ? 'store-down:write' : 'store-down:gated';
  }
  log({ seq, decision });
  if (decision === 'write' || decision === 'store-down:write') {
    psql.stdin.write(`INSERT INTO ${ident(opts.table)} (seq, decision) VALUES (${seq}, '${decision}');\n`);
  }
}

async function loop() {
  for (;;) {
    const t0 = Date.now();
    await tick();
    const wait = opts.intervalMs - (Date.now() - t0);
    await new Promise((r) => setTimeout(r, wait > 0 ? wait : 0));
  }
}

function shutdown() {
  psql.removeAllListeners('exit');
  psql.stdin.end();
  psql.on('exit', () => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (opts.parentPid) {
  setInterval(() => {
    try { process.kill(opts.parentPid, 0); } catch (e) { shutdown(); }
  }, 1000).unref();
}
if (opts.portFile) fs.writeFileSync(opts.portFile, '0\n'); // "started" marker for the harness
loop();
