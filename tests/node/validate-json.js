#!/usr/bin/env node
// tests/node/validate-json.js - validate JSON (or YAML) documents against a JSON Schema.
//
//   node validate-json.js SCHEMA.json DOC.json [DOC2 ...]     ("-" = stdin)
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

let validate;
try {
  validate = ajv.compile(schema);
} catch (e) {
  die(`${schemaFile}: schema does not compile: ${e.message}`);
}

let bad = 0;
for (const file of args.slice(1)) {
  const doc = parse(file);
  if (validate(doc)) continue;
  bad++;
  for (const err of validate.errors) {
    const extra = err.params && Object.keys(err.params).length ? ` ${JSON.stringify(err.params)}` : '';
    process.stderr.write(`${file}: ${err.instancePath || '/'}: ${err.message}${extra}\n`);
  }
}
process.exit(bad ? 1 : 0);
