#!/usr/bin/env node
// tests/node/validate-json.js - validate JSON (or YAML) documents against a JSON Schema.
//
//   node validate-json.js SCHEMA.json DOC.json [DOC2 ...]     ("-" = stdin)
// A DOC named *.jsonl is JSON lines, each line a document.
//
// The dialect is chosen from the schema's "$schema":
//   draft-04 (e.g. the official SARIF 2.1.0 schema) -> ajv-draft-04
//   draft 2020-12                                   -> ajv/dist/2020
//   draft 2019-09                                   -> ajv/dist/2019
//   draft-06/07 or none                             -> ajv (draft-07)
// Formats (date-time, uri, ...) are checked with ajv-formats.  Documents whose
// name ends in .yaml/.yml are parsed with js-yaml first (handy for playbooks).
// Exit 0: every document is valid.  1: some document is invalid (errors on
// stderr, one line each: file: instancePath: message).  2: usage/IO/parse error.
'use strict';

const fs = require('fs');

function die(msg, code = 2) {
  process.stderr.write(`validate-json: ${msg}\n`);
  process.exit(code);
}

const args = process.argv.slice(2);
if (args.length < 2) die('usage: validate-json.js SCHEMA.json DOC.json [DOC...]');

function readText(file) {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    return die(`cannot read ${file}: ${e.message}`);
  }
}
function parse(file) {
  const text = readText(file);
  try {
    if (/\.ya?ml$/i.test(file)) return require('js-yaml').load(text);
    return JSON.parse(text);
  } catch (e) {
    return die(`${file}: not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${e.message}`);
  }
}

const schemaFile = args[0];
const schema = parse(schemaFile);
const dialect = String(schema.$schema || '');
let Ajv;
if (/draft-04/.test(dialect)) Ajv = require('ajv-draft-04');
else if (/2020-12/.test(dialect)) Ajv = require('ajv/dist/2020');
else if (/2019-09/.test(dialect)) Ajv = require('ajv/dist/2019');
else Ajv = require('ajv');
if (Ajv.default) Ajv = Ajv.default;

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
require('ajv-formats')(ajv);

// drplay's own schemas refer to each other (drplay.lint.schema.json#/$defs/...):
// the ones beside the schema are known to ajv by their file names too.
const path = require('path');
const dir = path.dirname(schemaFile);
for (const f of fs.readdirSync(dir)) {
  if (!/^drplay\..*\.schema\.json$/.test(f) || path.join(dir, f) === path.normalize(schemaFile)) continue;
  const other = parse(path.join(dir, f));
  if (String(other.$schema || '') === dialect) ajv.addSchema(other);
}

let validate;
try {
  validate = ajv.compile(schema);
} catch (e) {
  die(`${schemaFile}: schema does not compile: ${e.message}`);
}

let bad = 0;
// A document named *.jsonl is JSON lines: each line is validated, and an
// empty one (no line at all) is invalid.
function documents(file) {
  if (!/\.jsonl$/i.test(file)) return [[file, parse(file)]];
  const lines = readText(file).split('\n').filter((l) => l.length);
  if (!lines.length) die(`${file}: no JSON lines`, 1);
  return lines.map((l, i) => {
    try {
      return [`${file}:${i + 1}`, JSON.parse(l)];
    } catch (e) {
      return die(`${file}:${i + 1}: not valid JSON: ${e.message}`);
    }
  });
}
for (const file of args.slice(1)) {
  for (const [name, doc] of documents(file)) {
    if (validate(doc)) continue;
    bad++;
    for (const err of validate.errors) {
      const extra = err.params && Object.keys(err.params).length ? ` ${JSON.stringify(err.params)}` : '';
      process.stderr.write(`${name}: ${err.instancePath || '/'}: ${err.message}${extra}\n`);
    }
  }
}
process.exit(bad ? 1 : 0);
