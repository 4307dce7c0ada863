/*
 * lazy.c: loading the heavy libraries (libpq, libcurl, OpenSSL) on first use.
 *
 * Linking libpq and libcurl pulls some 25 shared libraries (Kerberos, LDAP,
 * GnuTLS, ...) into every start of drplay, which costs 15-20 ms of page
 * faults before main() on a virtual machine: `drplay --version` or a lint in
 * a pre-commit hook would pay it for nothing. So on x86-64 the build does not
 * link those libraries. Instead it generates an assembly stub for every
 * function of theirs that the objects use (the Makefile lists them with nm):
 * each stub jumps through a slot that first points at a resolver, which saves
 * the argument registers, dlopen()s the library, dlsym()s the function,
 * patches the slot and jumps on. Later calls cost one indirect jump. This is
 * the technique of Implib.so and of the dynamic linker's own PLT; no library
 * in Debian provides it, hence this file and build/lazy_stubs.S.
 *
 * A library that cannot be loaded ends the process with a message naming it
 * and the package to install, the first time one of its functions is called.
 * It ends with EXIT_STEP_FAILED (1, SPEC.md section 4: "read the report"):
 * the stub cannot return to its caller, and earlier steps of a run may have
 * changed state, so only the code that never claims "nothing changed" is
 * honest here. A run's journal then shows it ended without a run_end.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "exitcode.h"

/* One entry per stubbed function, emitted by the generated assembly. */
struct lazy_entry {
	const char *name;
	void **slot;
	long lib;
};

extern const struct lazy_entry lazy_table[];
extern const char *const lazy_libs[];

void *lazy_resolve(long index);

static void *handles[16];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Called by the trampoline with the stub's index; returns the real address. */
void *lazy_resolve(long index)
{
	const struct lazy_entry *e = &lazy_table[index];
	pthread_mutex_lock(&lock);
	if (!handles[e->lib]) {
		handles[e->lib] = dlopen(lazy_libs[e->lib], RTLD_NOW | RTLD_GLOBAL);
		if (!handles[e->lib]) {
			fprintf(stderr, "drplay: cannot load %s: %s; install drplay's dependencies (make deps)\n",
				lazy_libs[e->lib], dlerror());
			exit(EXIT_STEP_FAILED);
		}
	}
	void *p = dlsym(handles[e->lib], e->name);
	if (!p) {
		fprintf(stderr, "drplay: %s has no function %s: %s; the installed library is not the one drplay was built for\n",
			lazy_libs[e->lib], e->name, dlerror());
		exit(EXIT_STEP_FAILED);
	}
	__atomic_store_n(e->slot, p, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
	return p;
}
