#!/usr/bin/env node
// tests/node/neon_contract_server.js - a CONTRACT SERVER for Neon's HTTP API
// (v2), used only because no Neon service is reachable from the tests. It is
// not Neon and does not restore data: it follows the request and response
// shapes of Neon's published OpenAPI definition for the calls the pitr
// `neon` driver makes, validates what it is sent the way the definition
// says, runs operations through their statuses, and can inject faults.
// Connection URIs it hands out point at a real PostgreSQL given with
// --connection-uri, so drplay's "accepts connections and is out of
// recovery" wait and a branch's dsn are exercised for real.
//
//   node neon_contract_server.js --api-key K --project P --port-file FILE
//        [--connection-uri URI] [--retention-seconds N] [--op-ms N]
//        [--log FILE] [--parent-pid PID]
//
// Implemented (all need "Authorization: Bearer <api key>", else 401):
//   GET    /projects/{project_id}                      {project: {..., history_retention_seconds}}
//   GET    /projects/{project_id}/branches             {branches: [Branch]}
//   POST   /projects/{project_id}/branches             BranchCreateRequest -> 201
//          {branch, endpoints, operations, roles, databases, connection_uris}
//   DELETE /projects/{project_id}/branches/{branch_id} -> 200 {branch, operations}
//   POST   /projects/{project_id}/branches/{branch_id}/restore  BranchRestoreRequest
//          -> 200 {branch, operations}
//   GET    /projects/{project_id}/operations/{operation_id}  {operation}
//   GET    /projects/{project_id}/connection_uri?branch_id&database_name&role_name  {uri}
// Errors are GeneralError objects {code, message, request_id}.
// Test controls (no auth): GET /__log (every request, as JSON lines),
//   POST /__control {"failStatus": S, "failCount": K, "failMatch": "REGEX on 'METHOD path'",
//   "neverFinish": bool, "failOperations": bool, "garbage": bool}
'use strict';

const fs = require('fs');
const http = require('http');
const crypto = require('crypto');

function usage(msg) {
  process.stderr.write(`neon_contract_server.js: ${msg}\n`);
  process.exit(2);
}

const opts = { port: 0, retention: 86400, opMs: 100, connectionUri: 'postgresql://neondb_owner@127.0.0.1:5432/neondb' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  switch (a) {
    case '--api-key': opts.apiKey = val(); break;
    case '--project': opts.project = val(); break;
    case '--port': opts.port = Number(val()); break;
    case '--port-file': opts.portFile = val(); break;
    case '--connection-uri': opts.connectionUri = val(); break;
    case '--retention-seconds': opts.retention = Number(val()); break;
    case '--op-ms': opts.opMs = Number(val()); break;
    case '--log': opts.log = val(); break;
    case '--parent-pid': opts.parentPid = Number(val()); break;
    default: usage(`unknown argument ${a}`);
  }
}
if (!opts.apiKey || !opts.project) usage('--api-key and --project are required');

const ID = /^[a-z0-9-]{1,60}$/;
const control = { failStatus: 500, failCount: 0, failMatch: '', neverFinish: false, failOperations: false, garbage: false };
const requests = [];
const logFd = opts.log ? fs.openSync(opts.log, 'a') : null;

function now() { return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'); }
function rid(prefix) { return `${prefix}-${crypto.randomBytes(4).toString('hex')}-${crypto.randomBytes(3).toString('hex')}`; }

const project = {
  id: opts.project,
  name: opts.project,
  platform_id: 'aws',
  region_id: 'aws-us-east-2',
  pg_version: 15,
  history_retention_seconds: opts.retention,
  created_at: now(),
  updated_at: now(),
};

const branches = new Map();
const operations = new Map();
const endpoints = new Map();

function makeBranch(fields) {
  const t = now();
  const b = {
    id: fields.id || rid('br'),
    project_id: opts.project,
    name: fields.name,
    current_state: 'ready',
    state_changed_at: t,
    creation_source: 'console',
    created_at: t,
    updated_at: t,
    default: !!fields.default,
    protected: false,
    cpu_used_sec: 0,
    active_time_seconds: 0,
    compute_time_seconds: 0,
    written_data_bytes: 0,
    data_transfer_bytes: 0,
  };
  if (fields.parent_id) b.parent_id = fields.parent_id;
  if (fields.parent_timestamp) b.parent_timestamp = fields.parent_timestamp;
  b.parent_lsn = fields.parent_lsn || '0/1A2B3C4';
  branches.set(b.id, b);
  return b;
}
makeBranch({ id: 'br-main-000001', name: 'main', default: true });

function makeOp(branchId, action, endpointId) {
  const op = {
    id: crypto.randomUUID(),
    project_id: opts.project,
    branch_id: branchId,
    action,
    status: 'running',
    failures_count: 0,
    created_at: now(),
    updated_at: now(),
    total_duration_ms: 0,
  };
  if (endpointId) op.endpoint_id = endpointId;
  op._finishAt = Date.now() + opts.opMs;
  op._fail = control.failOperations;
  op._never = control.neverFinish;
  operations.set(op.id, op);
  return op;
}

function opView(op) {
  if (op.status === 'running' && !op._never && Date.now() >= op._finishAt) {
    op.status = op._fail ? 'failed' : 'finished';
    if (op._fail) { op.error = 'injected failure: the operation failed'; op.failures_count = 1; }
    op.updated_at = now();
    op.total_duration_ms = opts.opMs;
  }
  const { _finishAt, _fail, _never, ...pub } = op;
  return pub;
}

function send(res, status, obj) {
  const body = JSON.stringify(obj) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
function error(res, status, message, code = '') {
  send(res, status, { code, message, request_id: crypto.randomUUID() });
}

function readBody(req, cb) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => cb(Buffer.concat(chunks).toString('utf8')));
}

function isTimestamp(s) {
  return typeof s === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !isNaN(Date.parse(s));
}

function inHistory(ts) {
  const t = Date.parse(ts);
  return t <= Date.now() + 1000 && t >= Date.now() - opts.retention * 1000;
}

function findByName(name) {
  for (const b of branches.values()) if (b.name === name) return b;
  return undefined;
}

function connectionUris() {
  return [{ connection_uri: opts.connectionUri, connection_parameters: connectionParameters() }];
}
function connectionParameters() {
  try {
    const u = new URL(opts.connectionUri);
    return { database: u.pathname.slice(1), password: decodeURIComponent(u.password), role: decodeURIComponent(u.username), host: u.hostname, pooler_host: u.hostname };
  } catch (e) {
    return {};
  }
}

function handle(req, res, body) {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  const key = `${req.method} ${path}${url.search}`;

  // Faults, then authentication (as a gateway would), then routes.
  if (control.failCount > 0 && (!control.failMatch || new RegExp(control.failMatch).test(key))) {
    control.failCount--;
    return error(res, control.failStatus, `injected failure ${control.failStatus}`);
  }
  const auth = /^Bearer\s+(.+)$/i.exec(req.headers.authorization || '');
  if (!auth || auth[1] !== opts.apiKey) return error(res, 401, 'authentication required');
  if (control.garbage) {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end('<html><body>upstream connect error (garbage mode)</body></html>\n');
  }

  const m = /^\/projects\/([^/]+)(\/.*)?$/.exec(path);
  if (!m) return error(res, 404, 'not found');
  if (!ID.test(m[1])) return error(res, 400, `project_id '${m[1]}' does not match ^[a-z0-9-]{1,60}$`);
  if (m[1] !== opts.project) return error(res, 404, 'project not found');
  const rest = m[2] || '';
  let parsed = null;
  if (body) {
    try {
      parsed = JSON.parse(body);
    } catch (e) {
      return error(res, 400, `request body is not JSON: ${e.message}`);
    }
  }

  if (rest === '' && req.method === 'GET') return send(res, 200, { project });

  if (rest === '/branches' && req.method === 'GET') return send(res, 200, { branches: [...branches.values()] });

  if (rest === '/branches' && req.method === 'POST') {
    const br = (parsed && parsed.branch) || {};
    if (parsed && typeof parsed !== 'object') return error(res, 400, 'body must be a BranchCreateRequest object');
    const parentId = br.parent_id || 'br-main-000001';
    if (!ID.test(parentId)) return error(res, 400, 'branch.parent_id does not match ^[a-z0-9-]{1,60}$');
    if (!branches.has(parentId)) return error(res, 404, `parent branch ${parentId} not found`);
    if (br.name !== undefined && (typeof br.name !== 'string' || br.name.length > 256)) return error(res, 400, 'branch.name must be a string of at most 256 characters');
    if (br.name && findByName(br.name)) return error(res, 409, `branch name '${br.name}' already exists`);
    if (br.parent_timestamp !== undefined) {
      if (!isTimestamp(br.parent_timestamp)) return error(res, 400, 'branch.parent_timestamp must be an ISO 8601 date-time');
      if (!inHistory(br.parent_timestamp)) return error(res, 400, 'parent_timestamp is outside the history retention period');
    }
    const b = makeBranch({ name: br.name || rid('branch'), parent_id: parentId, parent_timestamp: br.parent_timestamp });
    const ops = [makeOp(b.id, 'create_branch')];
    const eps = [];
    for (const e of (parsed && parsed.endpoints) || []) {
      if (!e || !['read_write', 'read_only'].includes(e.type)) return error(res, 400, 'endpoints[].type must be read_write or read_only');
      const ep = { id: rid('ep'), host: `${rid('ep')}.us-east-2.aws.neon.tech`, project_id: opts.project, branch_id: b.id, type: e.type, current_state: 'init' };
      endpoints.set(ep.id, ep);
      eps.push(ep);
      ops.push(makeOp(b.id, 'start_compute', ep.id));
    }
    const out = { branch: b, endpoints: eps, operations: ops.map(opView), roles: [], databases: [] };
    if (eps.length) out.connection_uris = connectionUris();
    return send(res, 201, out);
  }

  let bm = /^\/branches\/([^/]+)\/restore$/.exec(rest);
  if (bm && req.method === 'POST') {
    const id = bm[1];
    if (!ID.test(id)) return error(res, 400, 'branch_id does not match ^[a-z0-9-]{1,60}$');
    const target = branches.get(id);
    if (!target) return error(res, 404, `branch ${id} not found`);
    if (!parsed || typeof parsed.source_branch_id !== 'string') return error(res, 400, 'source_branch_id is required');
    if (!ID.test(parsed.source_branch_id)) return error(res, 400, 'source_branch_id does not match ^[a-z0-9-]{1,60}$');
    if (!branches.has(parsed.source_branch_id)) return error(res, 404, `source branch ${parsed.source_branch_id} not found`);
    const self = parsed.source_branch_id === id;
    if (self && parsed.source_timestamp === undefined && parsed.source_lsn === undefined)
      return error(res, 400, 'source_timestamp or source_lsn is required when source_branch_id is the branch itself');
    if (parsed.source_timestamp !== undefined) {
      if (!isTimestamp(parsed.source_timestamp)) return error(res, 400, 'source_timestamp must be an ISO 8601 date-time');
      if (!inHistory(parsed.source_timestamp)) return error(res, 400, 'source_timestamp is outside the history retention period');
    }
    if (self && !parsed.preserve_under_name) return error(res, 400, 'preserve_under_name is required when restoring a branch to its own history');
    if (parsed.preserve_under_name !== undefined) {
      if (typeof parsed.preserve_under_name !== 'string') return error(res, 400, 'preserve_under_name must be a string');
      if (findByName(parsed.preserve_under_name)) return error(res, 409, `branch name '${parsed.preserve_under_name}' already exists`);
    }
    const ops = [];
    if (parsed.preserve_under_name) {
      const kept = makeBranch({ name: parsed.preserve_under_name, parent_id: id });
      ops.push(makeOp(kept.id, 'create_branch'));
    }
    target.updated_at = now();
    target.last_reset_at = now();
    ops.push(makeOp(id, 'create_timeline'));
    ops.push(makeOp(id, 'start_compute'));
    return send(res, 200, { branch: target, operations: ops.map(opView) });
  }

  bm = /^\/branches\/([^/]+)$/.exec(rest);
  if (bm && req.method === 'DELETE') {
    const b = branches.get(bm[1]);
    if (!ID.test(bm[1])) return error(res, 400, 'branch_id does not match ^[a-z0-9-]{1,60}$');
    if (!b) return error(res, 404, `branch ${bm[1]} not found`);
    if (b.default) return error(res, 400, 'cannot delete the default branch');
    branches.delete(b.id);
    return send(res, 200, { branch: b, operations: [opView(makeOp(b.id, 'delete_timeline'))] });
  }

  const om = /^\/operations\/([^/]+)$/.exec(rest);
  if (om && req.method === 'GET') {
    const op = operations.get(om[1]);
    if (!op) return error(res, 404, 'operation not found');
    return send(res, 200, { operation: opView(op) });
  }

  if (rest === '/connection_uri' && req.method === 'GET') {
    const q = url.searchParams;
    if (!q.get('database_name') || !q.get('role_name')) return error(res, 400, 'database_name and role_name are required');
    if (q.get('branch_id') && !branches.has(q.get('branch_id'))) return error(res, 404, 'branch not found');
    return send(res, 200, { uri: opts.connectionUri });
  }
  return error(res, 404, `no route ${req.method} ${path}`);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/__log' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    return res.end(requests.map((r) => JSON.stringify(r)).join('\n') + (requests.length ? '\n' : ''));
  }
  if (url.pathname === '/__control') {
    return readBody(req, (body) => {
      if (req.method === 'POST') {
        try {
          Object.assign(control, JSON.parse(body || '{}'));
        } catch (e) {
          return error(res, 400, 'bad JSON');
        }
      }
      return send(res, 200, control);
    });
  }
  readBody(req, (body) => {
    const entry = { ts: new Date().toISOString(), method: req.method, path: url.pathname, query: url.search, body: body ? (() => { try { return JSON.parse(body); } catch (e) { return body; } })() : null };
    requests.push(entry);
    if (logFd !== null) fs.writeSync(logFd, JSON.stringify(entry) + '\n');
    handle(req, res, body);
  });
});

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
server.listen(opts.port, '127.0.0.1', () => {
  const port = server.address().port;
  if (opts.portFile) {
    const tmp = `${opts.portFile}.tmp${process.pid}`;
    fs.writeFileSync(tmp, `${port}\n`);
    fs.renameSync(tmp, opts.portFile);
  }
  process.stderr.write(`neon_contract_server.js: CONTRACT SERVER (not Neon) on http://127.0.0.1:${port} project ${opts.project}\n`);
});
