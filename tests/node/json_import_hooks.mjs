// tests/node/json_import_hooks.mjs - a module loader hook (node --import
// ./json_import_hooks.mjs) that imports .json modules as JSON even when the
// importer names no `with {type: "json"}`: @actions/workflow-parser imports
// GitHub's workflow schema that way (it is written for bundlers).
import { register } from "node:module";

if (!import.meta.url.includes("?hooks")) register(import.meta.url + "?hooks", import.meta.url);

export async function load(url, context, next) {
  if (url.endsWith(".json")) return next(url, { ...context, importAttributes: { type: "json" } });
  return next(url, context);
}
