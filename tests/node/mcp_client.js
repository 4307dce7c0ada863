#!/usr/bin/env node
// mcp_client.js: drives `drplay mcp` with the official MCP TypeScript SDK
// client (Client + StdioClientTransport), as an agent's host would, and
// prints one "PASS: name" or "FAIL: name: why" line per check.
//
//   node mcp_client.js DRPLAY PLAYBOOK_DIR JOURNAL_DIR TOKEN_FILE
//
// The environment carries MCP_APP_DSN (a PostgreSQL database with a table
// orders of 3 rows) and MCP_TOKEN (the disaster token, also in TOKEN_FILE).
'use strict';
const fs = require('fs');
const path = require('path');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');
const { ElicitRequestSchema } = require('@modelcontextprotocol/sdk/types.js');

const [drplay, pbDir, journalDir, tokenFile] = process.argv.slice(2);
const pb = (name) => path.join(pbDir, name);
let failed = 0;
const flat = (s) => String(s).replace(/\s*\n\s*/g, ' | ');
function check(name, ok, why) {
	if (ok) console.log(`PASS: mcp sdk: ${name}`);
	else {
		failed++;
		console.log(`FAIL: mcp sdk: ${name}: ${flat(why === undefined ? 'check failed' : why)}`);
	}
}
const show = (v) => JSON.stringify(v).slice(0, 1500);

// A client on its own server; `elicit` answers elicitation/create (or null:
// the client declares no elicitation capability).
async function connect(args, elicit) {
	const client = new Client({ name: 'drplay-test', version: '1.0.0' },
		{ capabilities: elicit ? { elicitation: { form: {} } } : {} });
	if (elicit) client.setRequestHandler(ElicitRequestSchema, (req) => elicit(req.params));
	const transport = new StdioClientTransport({
		command: drplay, args: ['mcp', '--journal-dir', journalDir, ...args],
		env: { ...process.env }, stderr: 'pipe',
	});
	let stderr = '';
	transport.stderr.on('data', (d) => { stderr += d; });
	// The progress notifications as they arrive, with the tool of their call.
	// The SDK hands a notification to onprogress a moment later than the
	// response read in the same piece, and by then it has forgotten the call:
	// the last notifications of a call can miss onprogress though the server
	// sent them first. The checks of what the server sent read them here.
	const wire = [], tools = new Map();
	const send = transport.send.bind(transport);
	transport.send = (m, o) => {
		const token = m.params?._meta?.progressToken;
		if (m.method === 'tools/call' && token !== undefined) tools.set(token, m.params.name);
		return send(m, o);
	};
	await client.connect(transport);
	const deliver = transport.onmessage;
	transport.onmessage = (m, extra) => {
		if (m.method === 'notifications/progress') wire.push({ tool: tools.get(m.params.progressToken), ...m.params });
		deliver(m, extra);
	};
	return { client, transport, stderr: () => stderr, wire };
}

// The journals of one playbook's runs (their first lines name it).
function runsOf(playbook) {
	let n = 0;
	for (const f of fs.readdirSync(journalDir)) {
		if (!f.endsWith('.jsonl')) continue;
		const first = fs.readFileSync(path.join(journalDir, f), 'utf8').split('\n')[0];
		try { if (JSON.parse(first).playbook === playbook) n++; } catch (e) { /* not a journal */ }
	}
	return n;
}

const events = (r) => (Array.isArray(r.structuredContent?.output) ? r.structuredContent.output : []);
const textOf = (r) => (r.content || []).map((c) => c.text || '').join('\n');

async function basics(client) {
	const v = client.getServerVersion();
	check('initialize: the server names itself drplay', v && v.name === 'drplay', show(v));
	check('initialize: tools capability declared', !!client.getServerCapabilities()?.tools,
		show(client.getServerCapabilities()));
	const tools = (await client.listTools()).tools;
	check('tools/list: lint, plan, run, status and actions',
		tools.map((t) => t.name).sort().join(',') === 'actions,lint,plan,run,status', show(tools.map((t) => t.name)));
	check('tools/list: each tool has an object inputSchema',
		tools.every((t) => t.inputSchema && t.inputSchema.type === 'object'), show(tools));
	check('tools/list: lint requires file', JSON.stringify(tools.find((t) => t.name === 'lint').inputSchema.required) ===
		'["file"]', show(tools.find((t) => t.name === 'lint')));

	const lint = await client.callTool({ name: 'lint', arguments: { file: pb('bad.yaml') } });
	const d = lint.structuredContent?.output?.diagnostics?.[0];
	check('lint: a bad playbook is a result, not a tool error', lint.isError === false, show(lint));
	check('lint: the error is located (line 6, column 13, unknown-action)',
		d && d.line === 6 && d.column === 13 && d.rule === 'unknown-action' && /pg\.cuonts/.test(d.message), show(lint));
	check('lint: the text content carries the same diagnostics', /pg\.cuonts/.test(textOf(lint)), show(lint));
	const good = await client.callTool({ name: 'lint', arguments: { file: pb('validate.yaml') } });
	check('lint: a good playbook has no errors', good.structuredContent?.output?.errors === 0, show(good));

	const act = await client.callTool({ name: 'actions', arguments: { name: 'approve' } });
	check('actions: one action described', act.isError === false &&
		act.structuredContent?.output?.actions?.[0]?.name === 'approve', show(act));

	const plan = await client.callTool({ name: 'plan', arguments: { file: pb('validate.yaml') } });
	const ids = plan.structuredContent?.output?.steps?.map((s) => s.id).join(',');
	check('plan: the resolved plan lists the steps', plan.isError === false && ids === 'who,counted,pause,orders,done',
		show(plan));

	let err = null;
	try { await client.callTool({ name: 'lint', arguments: { file: 3 } }); } catch (e) { err = e; }
	check('a wrong argument type is a JSON-RPC invalid params error', err && err.code === -32602 &&
		/must be a non-empty string/.test(err.message), err && err.message);
	err = null;
	try { await client.callTool({ name: 'nope', arguments: {} }); } catch (e) { err = e; }
	check('an unknown tool is a JSON-RPC error naming it', err && err.code === -32602 && /'nope'/.test(err.message),
		err && err.message);
	err = null;
	try { await client.callTool({ name: 'lint', arguments: { file: 'x', 'postgresql://u:hunter2pw@db/x': '1' } }); }
	catch (e) { err = e; }
	check("the server's own messages are masked", err && /unknown argument/.test(err.message) &&
		!/hunter2pw/.test(err.message), err && err.message);
}

// A validation run to its end, followed live from a second call.
async function runAndFollow(client, wire) {
	const runProgress = [], followProgress = [];
	const before = runsOf('mcp_validate');
	const run = client.callTool({ name: 'run', arguments: { file: pb('validate.yaml') } }, undefined,
		{ onprogress: (p) => runProgress.push(p), timeout: 120000 });
	// follow the drill from another call while it runs (the run pauses 2 s)
	for (let i = 0; i < 100 && runsOf('mcp_validate') === before; i++) await new Promise((r) => setTimeout(r, 50));
	const follow = client.callTool({ name: 'status', arguments: { playbook: 'mcp_validate', follow: true } }, undefined,
		{ onprogress: (p) => followProgress.push({ ...p, at: Date.now() }), timeout: 120000 });
	let runDone = 0;
	run.then(() => { runDone = Date.now(); }, () => {});
	const [r, f] = await Promise.all([run, follow]);
	const ev = events(r);
	check('run: the validation run succeeds to its end', r.isError === false && r.structuredContent.exit_code === 0 &&
		ev.at(-1)?.event === 'run_end' && ev.at(-1)?.outcome === 'succeeded', show(r));
	check('run: every step ran', ['who', 'counted', 'pause', 'orders', 'done'].every((s) =>
		ev.some((e) => e.event === 'step_end' && e.step === s && e.outcome === 'ok')), show(ev));
	check('run: the figures come from the database (3 orders)', ev.some((e) => e.event === 'log' &&
		/orders counted: 3/.test(e.message)), show(ev));
	check('run: the transcript arrived as progress notifications, in order', runProgress.length >= 5 &&
		runProgress.every((p, i) => i === 0 || p.progress > runProgress[i - 1].progress) &&
		runProgress.some((p) => /"step":"pause"/.test(p.message || '')), show(runProgress));
	const sent = (tool) => wire.filter((p) => p.tool === tool);
	check('run: the progress messages carry the run_end', sent('run').some((p) => /run_end/.test(p.message || '')),
		`${sent('run').length} notifications, the last: ${show(sent('run').slice(-2))}`);
	check('status follow: ends with the run, not an error', f.isError === false, show(f));
	check('status follow: each milestone arrived as a progress notification',
		['who', 'counted', 'pause', 'orders', 'done'].every((s) =>
			sent('status').some((p) => (p.message || '').includes(`"${s}"`))), show(sent('status')));
	check('status follow: events arrived live, before the run had ended',
		followProgress.some((p) => /"step":"pause"/.test(p.message || '') && p.at < runDone), show(followProgress));
	const st = await client.callTool({ name: 'status', arguments: { playbook: 'mcp_validate' } });
	check('status: the finished run is found by its playbook', st.isError === false &&
		JSON.stringify(st.structuredContent).includes('mcp_validate'), show(st));
}

async function approvals(client, answers) {
	const before = runsOf('mcp_approve');
	answers.push((p) => ({ action: 'accept', content: { approve: 'go' } }));
	const ok = await client.callTool({ name: 'run', arguments: { file: pb('approve.yaml') } });
	const asked = answers.asked.at(-1);
	check('approve: the person was asked, with the step and its message', asked &&
		/'go'/.test(asked.message) && /read the orders of the scratch copy\?/.test(asked.message) &&
		asked.requestedSchema?.properties?.approve?.type === 'string', show(asked));
	check('approve: an accepted answer with the step id lets the run go to its end', ok.isError === false &&
		ok.structuredContent.exit_code === 0 && JSON.stringify(ok.structuredContent.approved) === '["go"]', show(ok));
	check('approve: the run journaled the approval', events(ok).some((e) => e.event === 'approval' && e.step === 'go'),
		show(events(ok)));
	check('approve: one run journaled', runsOf('mcp_approve') === before + 1, `${runsOf('mcp_approve')} vs ${before}`);

	answers.push(() => ({ action: 'accept', content: { approve: 'yes' } }));
	const wrong = await client.callTool({ name: 'run', arguments: { file: pb('approve.yaml') } });
	check('approve: an answer other than the step id is refused', wrong.isError === true &&
		/not approved/.test(textOf(wrong)), show(wrong));
	answers.push(() => ({ action: 'decline' }));
	const no = await client.callTool({ name: 'run', arguments: { file: pb('approve.yaml') } });
	check('approve: a decline is refused', no.isError === true && /decline/.test(textOf(no)), show(no));
	answers.push(() => { throw new Error('nobody at the keyboard'); });
	const err = await client.callTool({ name: 'run', arguments: { file: pb('approve.yaml') } });
	check('approve: an elicitation the client fails is refused', err.isError === true &&
		/not approved \(the client could not ask\)/.test(textOf(err)), show(err));
	check('approve: refused runs never started', runsOf('mcp_approve') === before + 1,
		`${runsOf('mcp_approve')} vs ${before + 1}`);
}

async function refusals(client) {
	const d = await client.callTool({ name: 'run', arguments: { file: pb('disaster.yaml'), mode: 'disaster' } });
	check('disaster: refused by a server not started to allow it', d.isError === true &&
		/not allowed/.test(textOf(d)) && runsOf('mcp_disaster') === 0, show(d));
	const t = await client.callTool({ name: 'run', arguments: { file: pb('disaster.yaml'), authorize: 'x' } });
	check('a tool call carrying an authorization is refused', t.isError === true && /never travels/.test(textOf(t)),
		show(t));
}

async function main() {
	const answers = [];
	answers.asked = [];
	const a = await connect([], (params) => {
		answers.asked.push(params);
		const f = answers.shift();
		return f ? f(params) : { action: 'cancel' };
	});
	try {
		await basics(a.client);
		await runAndFollow(a.client, a.wire);
		await approvals(a.client, answers);
		await refusals(a.client);
	} finally {
		await a.client.close();
	}
	check('the server logs each call on stderr, not stdout', /drplay mcp: lint .*bad\.yaml: exit 1/.test(a.stderr()),
		a.stderr());

	// a client without elicitation: an approve step fails closed, nothing runs
	const b = await connect([], null);
	try {
		const before = runsOf('mcp_approve');
		const r = await b.client.callTool({ name: 'run', arguments: { file: pb('approve.yaml') } });
		check('no elicitation: the approve step fails closed', r.isError === true &&
			/declared no elicitation/.test(textOf(r)), show(r));
		check('no elicitation: nothing ran', runsOf('mcp_approve') === before, `${runsOf('mcp_approve')} vs ${before}`);
		const v = await b.client.callTool({ name: 'run', arguments: { file: pb('validate.yaml') } });
		check('no elicitation: a run without approve steps still runs', v.isError === false, show(v));
	} finally {
		await b.client.close();
	}

	// disaster allowed by the person who started the server
	const c = await connect(['--allow-disaster', '--authorize-file', tokenFile], null);
	try {
		const r = await c.client.callTool({ name: 'run', arguments: { file: pb('disaster.yaml'), mode: 'disaster' } });
		check('disaster: allowed with --allow-disaster --authorize-file', r.isError === false &&
			events(r).some((e) => e.event === 'log' && e.message === 'running in disaster'), show(r));
		const tok = fs.readFileSync(tokenFile, 'utf8').trim();
		const t = await c.client.callTool({ name: 'plan', arguments: { file: pb('disaster.yaml'), params: { x: tok } } });
		check('a tool call carrying the token itself is refused', t.isError === true && /never travels/.test(textOf(t)),
			show(t));
		check('the refusal does not echo the token', !JSON.stringify(t).includes(tok), show(t));
	} finally {
		await c.client.close();
	}
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
	console.log(`FAIL: mcp sdk: the client stopped: ${flat(e && e.stack || e)}`);
	process.exit(1);
});
