#!/usr/bin/env node
// tests/node/flagserver.js - an "edge config" style maintenance-flag service.
//
//   node flagserver.js --token T --port-file FILE [--port 0] [--read-token R]
//                      [--propagation-ms N] [--garbage] [--log FILE]
//                      [--flag NAME]... [--parent-pid PID]
//
// API (all /flags routes need "Authorization: Bearer <token>", else 401):
//   GET   /flags/<name>   200 the whole stored JSON document, e.g.
//                        {"maintenanceMode": false, "message": "", "eta": null}
//                        404 {"error": "flag not found"} for unknown names
//   PUT   /flags/<name>   body: JSON object; replaces the document (creates it)
//   PATCH /flags/<name>   body: JSON object; RFC 7386 merge patch (null deletes)
//                        Both answer 200 with the new document.  The read
//                        token (--read-token) may GET but gets 403 on writes.
//   GET   /flags         {"<name>": document, ...} (visible versions)
//   GET   /healthz       200 "ok" (no auth)
//   GET   /__control     current settings and counters (no auth; tests only)
//   POST  /__control     JSON {"propagationMs": N, "garbage": bool,
//                        "failStatus": S, "failCount": K}: change behaviour at
//                        run time; failCount K answers the next K /flags
//                        requests with failStatus (default 503).
// --propagation-ms N: a write becomes visible to GET only N ms after it was
//   accepted (like an edge store); until then GET returns the previous version.
// --garbage: /flags answers 200 with a non-JSON body (HTML) instead.
// --log FILE: append-only JSON lines, one per accepted change:
//   {"ts": ISO time, "flag", "method", "body", "document", "visibleAt"}
// --flag NAME: seed NAME with {"maintenanceMode": false, "message": "", "eta": null}
//   (default: one flag named "site").
'use strict';

const fs = require('fs');
const http = require('http');

function usage(msg) {
  process.stderr.write(`flagserver.js: ${msg}\n`);
  process.exit(2);
}

const opts = { port: 0, flags: [], propagationMs: 0, garbage: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  switch (a) {
    case '--token': opts.token = val(); break;
    case '--read-token': opts.readToken = val(); break;
    case '--port': opts.port = Number(val()); break;
    case '--port-file': opts.portFile = val(); break;
    case '--propagation-ms': opts.propagationMs = Number(val()); break;
    case '--garbage': opts.garbage = true; break;
    case '--log': opts.log = val(); break;
    case '--flag': opts.flags.push(val()); break;
    case '--parent-pid': opts.parentPid = Number(val()); break;
    default: usage(`unknown argument ${a}`);
  }
}
if (!opts.token) usage('--token is required');
if (!Number.isFinite(opts.propagationMs) || opts.propagationMs < 0) usage('bad --propagation-ms');
if (opts.flags.length === 0) opts.flags.push('site');

const state = {
  propagationMs: opts.propagationMs,
  garbage: opts.garbage,
  failStatus: 503,
  failCount: 0,
  requests: 0,
  writes: 0,
};

// name -> array of versions {doc, visibleAt (ms)}, oldest first
const store = new Map();
const seedTime = Date.now();
for (const f of opts.flags) {
  store.set(f, [{ doc: { maintenanceMode: false, message: '', eta: null }, visibleAt: seedTime }]);
}

function visible(name, now) {
  const versions = store.get(name);
  if (!versions) return undefined;
  let cur;
  for (const v of versions) if (v.visibleAt <= now) cur = v;
  return cur; // undefined when only not-yet-visible versions exist
}
function latest(name) {
  const versions = store.get(name);
  return versions ? versions[versions.length - 1] : undefined;
}

function mergePatch(target, patch) { // RFC 7386
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const logFd = opts.log ? fs.openSync(opts.log, 'a') : null;
function logChange(entry) {
  if (logFd !== null) fs.writeSync(logFd, JSON.stringify({ ts: new Date().toISOString(), ...entry }) + '\n');
}

function send(res, status, obj, extra = {}) {
  const body = typeof obj === 'string' ? obj : JSON.stringify(obj) + '\n';
  res.writeHead(status, {
    'content-type': typeof obj === 'string' ? 'text/plain' : 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(body);
}

function readBody(req, cb) {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= 1 << 20) chunks.push(c);
  });
  req.on('end', () => cb(size > 1 << 20 ? null : Buffer.concat(chunks).toString('utf8')));
}

function auth(req) { // 'rw', 'ro' or null
  const h = req.headers.authorization || '';
  const m = /^Bearer\s+(.+)$/i.exec(h);
  if (!m) return null;
  if (m[1] === opts.token) return 'rw';
  if (opts.readToken && m[1] === opts.readToken) return 'ro';
  return null;
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  if (path === '/healthz') return send(res, 200, 'ok\n');
  if (path === '/__control') {
    if (req.method === 'GET') return send(res, 200, state);
    return readBody(req, (body) => {
      let patch;
      try {
        patch = JSON.parse(body || '{}');
      } catch (e) {
        return send(res, 400, { error: 'bad JSON' });
      }
      for (const k of ['propagationMs', 'garbage', 'failStatus', 'failCount']) {
        if (k in patch) state[k] = patch[k];
      }
      return send(res, 200, state);
    });
  }
  if (path !== '/flags' && !path.startsWith('/flags/')) return send(res, 404, { error: 'not found' });

  state.requests++;
  const who = auth(req);
  if (!who) {
    req.resume();
    return send(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
  }
  if (state.failCount > 0) {
    state.failCount--;
    req.resume();
    return send(res, state.failStatus, { error: `injected failure ${state.failStatus}` });
  }
  if (state.garbage) {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end('<html><body>502 Bad Gateway (garbage mode)</body></html>\n');
  }

  const now = Date.now();
  if (path === '/flags') {
    if (req.method !== 'GET') return send(res, 405, { error: 'method not allowed' });
    const all = {};
    for (const name of store.keys()) {
      const v = visible(name, now);
      if (v) all[name] = v.doc;
    }
    return send(res, 200, all);
  }

  let name;
  try {
    name = decodeURIComponent(path.slice('/flags/'.length));
  } catch (e) {
    return send(res, 400, { error: 'bad flag name' });
  }
  if (!name || name.includes('/')) return send(res, 400, { error: 'bad flag name' });

  if (req.method === 'GET' || req.method === 'HEAD') {
    const v = visible(name, now);
    if (!v) return send(res, 404, { error: 'flag not found', flag: name });
    return send(res, 200, v.doc);
  }
  if (req.method !== 'PUT' && req.method !== 'PATCH') {
    return send(res, 405, { error: 'method not allowed' }, { allow: 'GET, PUT, PATCH' });
  }
  if (who !== 'rw') {
    req.resume();
    return send(res, 403, { error: 'token is read-only' });
  }
  readBody(req, (body) => {
    if (body === null) return send(res, 413, { error: 'body too large' });
    let doc;
    try {
      doc = JSON.parse(body);
    } catch (e) {
      return send(res, 400, { error: `body is not JSON: ${e.message}` });
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      return send(res, 400, { error: 'body must be a JSON object' });
    }
    const prev = latest(name);
    const next = req.method === 'PUT' ? doc : mergePatch(prev ? prev.doc : {}, doc);
    const visibleAt = Date.now() + state.propagationMs;
    if (!store.has(name)) store.set(name, []);
    store.get(name).push({ doc: next, visibleAt });
    state.writes++;
    logChange({ flag: name, method: req.method, body: doc, document: next, visibleAt: new Date(visibleAt).toISOString() });
    return send(res, 200, next);
  });
});

server.keepAliveTimeout = 5000;
function shutdown() {
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
server.on('error', (err) => {
  process.stderr.write(`flagserver.js: ${err.message}\n`);
  process.exit(1);
});
server.listen(opts.port, '127.0.0.1', () => {
  const port = server.address().port;
  if (opts.portFile) {
    const tmp = `${opts.portFile}.tmp${process.pid}`;
    fs.writeFileSync(tmp, `${port}\n`);
    fs.renameSync(tmp, opts.portFile);
  }
  process.stderr.write(`flagserver.js: listening on http://127.0.0.1:${port} flags [${opts.flags.join(', ')}] ` +
    `propagation ${state.propagationMs} ms${state.garbage ? ' GARBAGE' : ''}\n`);
});
