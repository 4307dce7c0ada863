#!/usr/bin/env node
// tests/node/yaml2json.js - convert YAML to JSON.
//   node yaml2json.js [FILE.yaml|-] [--compact]    (default: stdin; pretty output)
// Multi-document YAML prints a JSON array of the documents.  Exit 2 on a parse error.
'use strict';
const fs = require('fs');
const yaml = require('js-yaml');
const args = process.argv.slice(2);
const compact = args.includes('--compact');
const file = args.find((a) => a !== '--compact') || '-';
let text;
try {
  text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
} catch (e) {
  process.stderr.write(`yaml2json: cannot read ${file}: ${e.message}\n`);
  process.exit(2);
}
try {
  const docs = yaml.loadAll(text);
  const out = docs.length === 1 ? docs[0] : docs;
  process.stdout.write(JSON.stringify(out === undefined ? null : out, null, compact ? 0 : 2) + '\n');
} catch (e) {
  process.stderr.write(`yaml2json: ${file}: ${e.message}\n`);
  process.exit(2);
}
