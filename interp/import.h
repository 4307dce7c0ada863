/*
 * import.h: `import: drplay:NAME@MAJOR`. A playbook that imports a shipped
 * procedure is its environment: it binds the procedure's resources (declared
 * under the procedure's names), gives values to the procedure's params and
 * may set its own name, description and objectives. The import is resolved
 * when the playbook is loaded, into one document tree that the checker,
 * lint, plan and run see as one playbook; every node keeps the file it came
 * from, so a diagnostic inside the procedure names the procedure's
 * file:line:col (and, through doc->imported_at, the importing line).
 */
#ifndef DRPLAY_IMPORT_H
#define DRPLAY_IMPORT_H

#include <stdio.h>
#include "diag.h"
#include "node.h"

/* Resolves doc's import, if any. Returns doc->root when the playbook imports
 * nothing; the merged tree when it does (it lives in the procedure's
 * document, doc->imported, which doc owns: both go with doc_free(doc));
 * NULL when the import cannot be resolved (errors in d). */
const struct node *import_expand(struct doc *doc, struct diags *d);

/* `drplay procedures [NAME[@MAJOR]]`: without a name lists the shipped
 * procedures (name, versions, description); with one prints its YAML.
 * Returns 0, or -1 when no such procedure exists (message in *err, caller
 * frees). */
int procedures_show(const char *name, FILE *f, char **err);

#endif
