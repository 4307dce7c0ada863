#!/usr/bin/env node
// tests/node/follow_latency.js - how soon a journal line written reaches the
// output of `drplay status --follow --json`, and of `tail -F` on the same
// file side by side (the baseline).
//
//   node follow_latency.js DRPLAY N
//
// Writes a run_start (naming this process, which holds the journal open, so
// the run reads as running), starts both followers, then appends N log
// events at irregular intervals (10-40 ms), each with one write(), noting
// when it was written and when each follower printed it (one monotonic clock,
// this process's). Ends the journal with run_end (drplay exits by itself).
// Prints "DRPLAY_MEDIAN_MS TAIL_MEDIAN_MS" on stdout; exit 1 when a follower
// missed a line or drplay did not exit 0.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const [drplay, nArg] = process.argv.slice(2);
const n = Number(nArg || 200);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drplay-follow-'));
const run = '20260101T000000Z-0000beef';
const file = path.join(dir, `${run}.jsonl`);
const fd = fs.openSync(file, 'a');
const now = () => Number(process.hrtime.bigint()) / 1e6;
const line = (o) => fs.writeSync(fd, `${JSON.stringify({ ts: new Date().toISOString(), ...o })}\n`);

line({ event: 'run_start', run, playbook: 'bench_follow', file: 'bench.yaml', sha256: '0'.repeat(64),
  mode: 'validation', params: {}, steps: 1, drplay: '0', format: 'drplay.journal/1', pid: process.pid });

const written = new Array(n).fill(0);
const seen = { drplay: new Array(n).fill(0), tail: new Array(n).fill(0) };
function watch(name, child) {
  let buf = '';
  child.stdout.on('data', (d) => {
    const t = now();
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const m = /"message":"m(\d+)"/.exec(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if (m && !seen[name][Number(m[1])]) seen[name][Number(m[1])] = t;
    }
  });
}
const fol = spawn(drplay, ['status', run, '--follow', '--json', '--journal-dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
const tail = spawn('tail', ['-n', '+1', '-F', file], { stdio: ['ignore', 'pipe', 'ignore'] });
watch('drplay', fol);
watch('tail', tail);
let folExit = null;
fol.on('exit', (code) => { folExit = code; });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

(async () => {
  await sleep(300); // both followers have started and read what is there
  for (let i = 0; i < n; i++) {
    written[i] = now();
    line({ event: 'log', step: 's', message: `m${i}` });
    await sleep(10 + Math.random() * 30);
  }
  await sleep(300);
  line({ event: 'run_end', outcome: 'succeeded', exit_code: 0, duration_s: 1, state_changed: false });
  for (let i = 0; i < 100 && folExit === null; i++) await sleep(20);
  tail.kill();
  if (folExit === null) fol.kill();
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
  const lat = (name) => written.map((w, i) => seen[name][i] - w);
  const missed = (name) => seen[name].filter((t) => !t).length;
  if (missed('drplay') || missed('tail') || folExit !== 0) {
    process.stderr.write(`follow_latency: missed drplay=${missed('drplay')} tail=${missed('tail')}, drplay exit ${folExit}\n`);
    process.exit(1);
  }
  console.log(`${median(lat('drplay')).toFixed(3)} ${median(lat('tail')).toFixed(3)}`);
})();
