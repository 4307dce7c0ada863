// tests/node/validate_examples.mjs - validates the CI and scheduler examples
// against the schemas their platforms publish, from npm:
//   GitHub Actions workflows: GitHub's own workflow parser and schema
//     (@actions/workflow-parser, workflow-v1.0.json), which rejects unknown
//     keys, wrong types and bad expressions the way GitHub does;
//   Kubernetes objects: the validators kubernetes-models generates from the
//     Kubernetes OpenAPI schema;
//   Argo objects: those @kubernetes-models/argo-workflows generates from
//     Argo Workflows' CRD schema.
//   node --import ./json_import_hooks.mjs validate_examples.mjs FILE...
// Prints `ok FILE: KIND NAME` or `error FILE: KIND NAME: why` per document;
// exit 1 if any document is invalid, 2 on a file that cannot be read.
import fs from "node:fs";
import yaml from "js-yaml";
import { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } from "@actions/workflow-parser";
import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { Job } from "kubernetes-models/batch/v1/Job";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Secret } from "kubernetes-models/v1/Secret";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { CronWorkflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/CronWorkflow";
import { WorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";

const models = {
  "batch/v1 CronJob": CronJob,
  "batch/v1 Job": Job,
  "v1 PersistentVolumeClaim": PersistentVolumeClaim,
  "v1 ServiceAccount": ServiceAccount,
  "v1 Secret": Secret,
  "v1 ConfigMap": ConfigMap,
  "argoproj.io/v1alpha1 CronWorkflow": CronWorkflow,
  "argoproj.io/v1alpha1 WorkflowTemplate": WorkflowTemplate,
};

let bad = 0;
const say = (ok, file, what, why) => {
  if (!ok) bad++;
  process.stdout.write(`${ok ? "ok" : "error"} ${file}: ${what}${why ? ": " + why : ""}\n`);
};

async function workflow(file, text) {
  const r = parseWorkflow({ name: file, content: text }, new NoOperationTraceWriter());
  const errs = r.context.errors.getErrors().map((e) => e.message);
  if (!errs.length && r.value) {
    const t = await convertWorkflowTemplate(r.context, r.value);
    for (const e of t.errors || []) errs.push(e.Message);
  }
  say(errs.length === 0, file, "GitHub Actions workflow", errs.join("; "));
}

function kube(file, text) {
  let docs;
  try {
    docs = yaml.loadAll(text).filter((d) => d != null);
  } catch (e) {
    return say(false, file, "YAML", e.message);
  }
  if (!docs.length) return say(false, file, "YAML", "no document");
  for (const d of docs) {
    const key = `${d.apiVersion} ${d.kind}`;
    const what = `${key} ${d.metadata && d.metadata.name}`;
    const M = models[key];
    if (!M) {
      say(false, file, what, "no published schema known here for this kind");
      continue;
    }
    try {
      new M(d).validate();
      say(true, file, what);
    } catch (e) {
      say(false, file, what, e.message.replace(/\s+/g, " "));
    }
  }
}

for (const file of process.argv.slice(2)) {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    process.stderr.write(`validate_examples: cannot read ${file}: ${e.message}\n`);
    process.exit(2);
  }
  if (/(^|\/)(github-actions|\.github\/workflows)\//.test(file)) await workflow(file, text);
  else kube(file, text);
}
process.exit(bad ? 1 : 0);
