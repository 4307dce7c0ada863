#!/usr/bin/env node
// mcp_bench.js: the round trip of an MCP tools/call of lint through one
// running `drplay mcp` (request written, result read back), against the same
// lint run directly as `drplay lint --format=json FILE`, alternating, N of
// each. Prints "MEDIAN_MCP_MS MEDIAN_DIRECT_MS".
//
//   node mcp_bench.js DRPLAY FILE [N]
'use strict';
const { spawn, spawnSync } = require('child_process');
const [drplay, file, nArg] = process.argv.slice(2);
const n = Number(nArg || 30);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

const server = spawn(drplay, ['mcp'], { stdio: ['pipe', 'pipe', 'ignore'] }); // its per-call log lines
let buf = '';
const waiting = new Map();
server.stdout.on('data', (d) => {
	buf += d;
	let i;
	while ((i = buf.indexOf('\n')) >= 0) {
		const m = JSON.parse(buf.slice(0, i));
		buf = buf.slice(i + 1);
		const w = waiting.get(m.id);
		if (w) { waiting.delete(m.id); w(m); }
	}
});
let next = 1;
function call(method, params) {
	const id = next++;
	return new Promise((resolve) => {
		waiting.set(id, resolve);
		server.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
	});
}

async function main() {
	await call('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } });
	server.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
	const mcp = [], direct = [];
	for (let i = 0; i < n + 3; i++) {
		let t = process.hrtime.bigint();
		const r = await call('tools/call', { name: 'lint', arguments: { file } });
		const dt = Number(process.hrtime.bigint() - t) / 1e6;
		if (!r.result || r.result.structuredContent.exit_code !== 0) throw new Error('lint through mcp failed: ' + JSON.stringify(r));
		t = process.hrtime.bigint();
		const d = spawnSync(drplay, ['lint', '--format=json', file], { encoding: 'utf8' });
		const dd = Number(process.hrtime.bigint() - t) / 1e6;
		if (d.status !== 0) throw new Error('drplay lint failed: ' + d.stderr);
		if (i >= 3) { mcp.push(dt); direct.push(dd); } // the first ones warm the caches
	}
	server.stdin.end();
	console.log(`${median(mcp).toFixed(3)} ${median(direct).toFixed(3)}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
