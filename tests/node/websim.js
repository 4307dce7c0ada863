// websim.js: a small real web application for the smoke-test and webhook
// tests (http.check, notify). Routes:
//   GET /            200 "Welcome to the shop" (503 + "Down for maintenance" while /tmp flag file says so)
//   GET /account     302 -> /login?next=/account
//   GET /login       200 "Sign in"
//   GET /slow        answers after 5 s
//   POST /hook       records the JSON body as a line in --hook-log, 200
//   POST /hook-fail  500
// Usage: node websim.js --port-file FILE --hook-log FILE [--maintenance-file FILE]
//                       [--flag-url URL [--flag-token T] [--flag-fail open|closed]]
'use strict';
const http = require('http');
const fs = require('fs');
const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const portFile = opt('--port-file');
const hookLog = opt('--hook-log', '/dev/null');
const maintFile = opt('--maintenance-file', '');
const flagUrl = opt('--flag-url', '');
const flagToken = opt('--flag-token', '');
const flagFail = opt('--flag-fail', 'open');
// With --flag-url the homepage reads the HTTP maintenance flag (flagserver.js)
// on every request, as the application's middleware would: on = 503; store
// unreachable = what --flag-fail says (closed = 503, open = serve).
async function inMaintenance() {
	if (maintFile && fs.existsSync(maintFile) && fs.readFileSync(maintFile, 'utf8').includes('on')) return true;
	if (!flagUrl) return false;
	try {
		const r = await fetch(flagUrl, { headers: flagToken ? { Authorization: `Bearer ${flagToken}` } : {}, signal: AbortSignal.timeout(2000) });
		if (!r.ok) throw new Error(`HTTP ${r.status}`);
		return (await r.json()).maintenanceMode === true;
	} catch (e) {
		return flagFail === 'closed';
	}
}
const server = http.createServer((req, res) => {
	let body = '';
	req.on('data', (d) => { body += d; });
	req.on('end', async () => {
		const url = new URL(req.url, 'http://x');
		if (req.method === 'GET' && url.pathname === '/') {
			if (await inMaintenance()) {
				res.writeHead(503, { 'Content-Type': 'text/plain' });
				return res.end('Down for maintenance');
			}
			res.writeHead(200, { 'Content-Type': 'text/html' });
			return res.end('<html><body>Welcome to the shop</body></html>');
		}
		if (req.method === 'GET' && url.pathname === '/account') {
			res.writeHead(302, { Location: '/login?next=/account' });
			return res.end();
		}
		if (req.method === 'GET' && url.pathname === '/login') {
			res.writeHead(200, { 'Content-Type': 'text/html' });
			return res.end('<form>Sign in</form>');
		}
		if (url.pathname === '/slow') {
			return setTimeout(() => { res.writeHead(200); res.end('late'); }, 5000);
		}
		if (req.method === 'POST' && url.pathname === '/hook') {
			fs.appendFileSync(hookLog, JSON.stringify({ headers: req.headers, body }) + '\n');
			res.writeHead(200, { 'Content-Type': 'text/plain' });
			return res.end('ok');
		}
		if (req.method === 'POST' && url.pathname === '/hook-fail') {
			res.writeHead(500);
			return res.end('boom');
		}
		res.writeHead(404);
		res.end('not found');
	});
});
server.listen(0, '127.0.0.1', () => {
	fs.writeFileSync(portFile, String(server.address().port));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
