// journal_out.js DIR STEP EXPR: evaluates a JavaScript expression over the
// outputs of step STEP in the newest journal of DIR (`o` = the step's
// outputs, `e` = its step_end event, `ev` = every event of that run) and
// prints the result: strings as they are, anything else as compact JSON.
// Lets shell tests assert on typed outputs (node is a test dependency).
const fs = require("fs");
const path = require("path");
const [dir, step, expr] = process.argv.slice(2);
const files = fs.readdirSync(dir).filter((f) => f.endsWith(".jsonl"))
	.map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
if (!files.length) {
	console.error("journal_out.js: no journal in " + dir);
	process.exit(2);
}
const ev = fs.readFileSync(files[files.length - 1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
let e = null;
for (const x of ev) if (x.event === "step_end" && x.step === step) e = x;
const o = (e && e.outputs) || {};
const r = eval(expr);
console.log(typeof r === "string" ? r : JSON.stringify(r));
