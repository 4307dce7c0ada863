/*
 * fuzz_load.c: libFuzzer target for the whole front end: YAML loading with
 * its limits, checking against the format and the registry, and every lint
 * rule, on arbitrary bytes. Nothing may crash, leak or hang.
 */
#include <stddef.h>
#include <stdint.h>

#include "../../interp/diag.h"
#include "../../interp/node.h"
#include "../../interp/plan.h"
#include "../../lib/redact.h"
#include "../../stdlib/family.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	stdlib_register(); /* once: the families the checker looks actions up in */
	struct diags d;
	diags_init(&d);
	struct doc *doc = doc_load_buf("fuzz.yaml", (const char *)data, size, &d);
	if (d.nerr == 0) {
		struct playbook *pb = playbook_check(doc, &d);
		if (pb) {
			lint_playbook(pb, MODE_ALL, NULL, &d);
			FILE *devnull = fopen("/dev/null", "w");
			if (devnull) {
				diags_sort(&d);
				diags_print(&d, DF_TEXT, devnull);
				diags_print(&d, DF_SARIF, devnull);
				fclose(devnull);
			}
			playbook_free(pb);
			doc = NULL;
		}
	}
	doc_free(doc);
	diags_release(&d);
	redact_release();
	return 0;
}
