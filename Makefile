# drplay: a database disaster-recovery playbook interpreter.
#
#   make                 build ./drplay (-Wall -Wextra -Werror)
#   make SANITIZE=address,undefined   the same, sanitized (objects kept apart)
#   make check           install what is missing (make deps), build, run every test
#                        against the release build and again against the sanitized one
#   make demo            the main job on a local sandbox
#   make bench           speed against the baseline tools, one line per benchmark
#   make bench-scale     the off-site, PITR and checksum benches at ten times the size
#   make fuzz            build the libFuzzer targets (clang) into build/fuzz/
#   make fuzz-long       fuzz every target for minutes (FUZZ_SECONDS, default 300), before a release
#   make spec            regenerate SPEC.md's action tables and grammar/playbook.schema.json
#   make deps            install the Debian and npm packages drplay and its tests need
#   make deps-build      install only what compiling drplay needs
#   make install         the binary, man pages, completion, schemas (PREFIX=/usr/local, DESTDIR=)
#   make uninstall       removes what install put there
#   make deb             a Debian package (dpkg-deb) in build/deb/
#
# The compiler flags come from pkg-config, which `make deps` may be the one to
# install. So check, demo and bench install first and then build in a sub-make,
# whose flags are read after the packages are there: their first run on a bare
# machine works. A plain `make` with packages missing says which, in one line.

# `make` alone builds drplay, whatever rule comes first below.
.DEFAULT_GOAL := all

CC ?= cc
PKGS = yaml-0.1 libpq libcurl libcrypto libpcre2-8 jansson expat hiredis zlib
PKG_OK := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# Registry tables leave a declaration's optional trailing fields out (an
# output's role, a kind's hooks): they are zero, which means "none".
WARN = -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral \
	-Wno-missing-field-initializers
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(WARN) $(CFLAGS) $(PKG_CFLAGS) -Ilib -Iinterp -Istdlib
LDFLAGS ?=
LIBS = $(PKG_LIBS) -lpthread -lm

ifdef SANITIZE
  ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=$(SANITIZE)
  VARIANT = san-$(subst $(comma),-,$(SANITIZE))
  LAZY ?= 0
else
  VARIANT = release
endif
comma := ,

# LAZY=1 (the default on x86-64): libpq, libcurl and OpenSSL are loaded on
# first use instead of at start-up (see lib/lazy.c).
ifeq ($(shell uname -m),x86_64)
  LAZY ?= 1
else
  LAZY = 0
endif
LAZY_PKGS = libpq libcurl libcrypto
EAGER_LIBS := $(shell pkg-config --libs $(filter-out $(LAZY_PKGS),$(PKGS)) 2>/dev/null)

# Three folders, each using only those listed before it: lib/ (libraries:
# neither the language nor an action family), interp/ (the language) and
# stdlib/ (the action families). stdlib/testing*.c are test-only families,
# compiled into tests/drplay-test alone.
SRC_LIB := $(filter-out lib/lazy.c,$(sort $(wildcard lib/*.c)))
SRC_INTERP := $(sort $(wildcard interp/*.c))
SRC_STDLIB := $(filter-out stdlib/testing%.c,$(sort $(wildcard stdlib/*.c)))
SRC_TESTONLY := $(sort $(wildcard stdlib/testing*.c))
SRC := $(SRC_LIB) $(SRC_INTERP) $(SRC_STDLIB)
HDR := $(wildcard lib/*.h interp/*.h stdlib/*.h)

# The shipped procedures (procedures/NAME@MAJOR.yaml), compiled into the
# binary as one generated C file: an installed drplay needs no search path.
PROCEDURES := $(sort $(wildcard procedures/*.yaml))
GEN_PROC = build/gen/procedures.c
$(GEN_PROC): $(PROCEDURES) procedures/embed.sh
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	@bash procedures/embed.sh $@ $(PROCEDURES)

OBJDIR = build/$(VARIANT)
OBJ := $(SRC:%.c=$(OBJDIR)/%.o) $(OBJDIR)/$(GEN_PROC:.c=.o)
TOBJDIR = build/$(VARIANT)-testing
TOBJ := $(filter-out $(TOBJDIR)/interp/main.o,$(SRC:%.c=$(TOBJDIR)/%.o) $(SRC_TESTONLY:%.c=$(TOBJDIR)/%.o)) \
	$(TOBJDIR)/$(GEN_PROC:.c=.o)

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
# Unit test binaries: build/unit/ for the release build, build/unit-san/ for the sanitized one.
UNITDIR = $(if $(SANITIZE),build/unit-san,build/unit)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(UNITDIR)/%)

# Where the binaries go (a sanitized build for the tests can go elsewhere:
# make SANITIZE=address,undefined BIN=build/san/drplay TBIN=build/san/drplay-test).
BIN ?= drplay
TBIN ?= tests/drplay-test
# The sanitized pair `make check` builds and runs the suite against a second time.
SAN_BIN = build/san/drplay
SAN_TBIN = build/san/drplay-test

.PHONY: all check test demo bench bench-scale fuzz fuzz-long deps deps-build spec clean checksrc build-deps-present \
	install uninstall deb

all: $(BIN) $(TBIN)

# One line instead of a compiler error when a build package is missing.
build-deps-present:
ifneq ($(PKG_OK),yes)
	@DRPLAY_PKG_MODULES='$(PKGS)' bash tests/lib/deps.sh --build --check
endif

ifeq ($(LAZY),1)
$(BIN): $(OBJ) $(OBJDIR)/lib/lazy.o $(OBJDIR)/lazy_stubs.o
	@mkdir -p $(dir $@)
	@echo "  LINK    $@ (libpq, libcurl, OpenSSL loaded on first use)"
	@$(CC) $(LDFLAGS) -o $@ $^ $(EAGER_LIBS) -ldl -lpthread -lm

$(TBIN): $(TOBJ) $(TOBJDIR)/interp/main.o $(OBJDIR)/lib/lazy.o $(TOBJDIR)/lazy_stubs.o
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(EAGER_LIBS) -ldl -lpthread -lm

$(OBJDIR)/lazy_stubs.S: $(OBJ) lib/lazy_stubs.sh
	@lib/lazy_stubs.sh $@ $(OBJ)

$(TOBJDIR)/lazy_stubs.S: $(TOBJ) $(TOBJDIR)/interp/main.o lib/lazy_stubs.sh
	@lib/lazy_stubs.sh $@ $(TOBJ) $(TOBJDIR)/interp/main.o

%.o: %.S
	@$(CC) -c -o $@ $<
else
$(BIN): $(OBJ)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) -o $@ $(OBJ) $(LIBS)

# The test build: the same sources plus the test-only families (stdlib/testing*.c).
$(TBIN): $(TOBJ) $(TOBJDIR)/interp/main.o
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
endif

$(OBJDIR)/%.o: %.c $(HDR) | build-deps-present
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(TOBJDIR)/%.o: %.c $(HDR) | build-deps-present
	@mkdir -p $(dir $@)
	@echo "  CC      $< (testing)"
	@$(CC) $(ALL_CFLAGS) -DDRPLAY_TESTING -c -o $@ $<

$(UNITDIR)/%: tests/unit/%.c $(TOBJ) tests/unit/unit.h
	@mkdir -p $(UNITDIR)
	@echo "  LINK    $@"
	@$(CC) $(ALL_CFLAGS) -DDRPLAY_TESTING $(LDFLAGS) -o $@ $< $(TOBJ) $(LIBS)

units: $(UNIT_BIN)
.PHONY: units

deps:
	@bash tests/lib/deps.sh

deps-build:
	@bash tests/lib/deps.sh --build

# Banned functions (like curl's checksrc): unbounded or error-hiding C calls.
checksrc:
	@! grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets|system|popen)[[:space:]]*\(' \
		lib/*.c lib/*.h interp/*.c interp/*.h stdlib/*.c stdlib/*.h \
		|| { echo "checksrc: banned function above (use snprintf/strbuf, strtol, posix_spawn)"; exit 1; }

# After deps, in a sub-make: its pkg-config flags are read with the packages
# present. The suite runs against the release build and again against the
# ASan+UBSan build (tests/run.sh --sanitized), so a memory error anywhere fails.
check: deps
	@$(MAKE) --no-print-directory checksrc all units fuzz
	@$(MAKE) --no-print-directory SANITIZE=address,undefined BIN=$(SAN_BIN) TBIN=$(SAN_TBIN) all units
	@bash tests/run.sh --sanitized

test: check

demo: deps
	@$(MAKE) --no-print-directory all
	@bash tests/demo/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@bash tests/bench/run.sh

# the off-site, PITR and checksum benches at ten times the size (BENCH_SCALE_FACTOR)
bench-scale: deps
	@$(MAKE) --no-print-directory all
	@bash tests/bench/scale.sh

FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SRC := $(filter-out interp/main.c,$(SRC)) $(SRC_TESTONLY) $(GEN_PROC)
fuzz: $(FUZZ_TARGETS)
build/fuzz/%: tests/fuzz/%.c $(FUZZ_SRC) $(HDR)
	@mkdir -p build/fuzz
	clang -std=c11 -D_GNU_SOURCE -DDRPLAY_TESTING -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		$(PKG_CFLAGS) -Ilib -Iinterp -Istdlib -o $@ $< $(FUZZ_SRC) $(LIBS)

# Minutes per target, for before a release; crash inputs land in build/ and
# belong, once fixed, in tests/fuzz/corpus/<target>/ as regression cases.
FUZZ_SECONDS ?= 300
fuzz-long: fuzz
	@DRPLAY_FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run_fuzz.sh

spec: drplay
	@bash tests/lib/gen_spec.sh

# ---- installing ----
# The man pages are written by the binary itself (`drplay manpage 1|5`), from
# the command table and the registry, so they describe what is installed.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
MANOUT ?= build/man
VERSION := $(shell sed -n 's/^\#define DRPLAY_VERSION "\(.*\)"/\1/p' lib/version.h)
SCHEMAS := $(sort $(wildcard grammar/*.json))
SHIPPED_PLAYBOOKS := $(sort $(wildcard playbooks/*.yaml))
INSTALLED := $(BINDIR)/drplay $(MANDIR)/man1/drplay.1 $(MANDIR)/man5/drplay-playbook.5 \
	$(BASHCOMPDIR)/drplay $(ZSHCOMPDIR)/_drplay \
	$(SCHEMAS:grammar/%=$(DATADIR)/drplay/schemas/%) $(SHIPPED_PLAYBOOKS:playbooks/%=$(DATADIR)/drplay/playbooks/%)

$(MANOUT)/drplay.1: $(BIN)
	@mkdir -p $(dir $@)
	@$(abspath $(BIN)) manpage 1 >$@.tmp && mv $@.tmp $@
$(MANOUT)/drplay-playbook.5: $(BIN)
	@mkdir -p $(dir $@)
	@$(abspath $(BIN)) manpage 5 >$@.tmp && mv $@.tmp $@

install: $(BIN) $(MANOUT)/drplay.1 $(MANOUT)/drplay-playbook.5
	install -D -m 755 $(BIN) $(DESTDIR)$(BINDIR)/drplay
	install -D -m 644 $(MANOUT)/drplay.1 $(DESTDIR)$(MANDIR)/man1/drplay.1
	install -D -m 644 $(MANOUT)/drplay-playbook.5 $(DESTDIR)$(MANDIR)/man5/drplay-playbook.5
	install -D -m 644 completion/drplay.bash $(DESTDIR)$(BASHCOMPDIR)/drplay
	install -D -m 644 completion/_drplay $(DESTDIR)$(ZSHCOMPDIR)/_drplay
	install -d $(DESTDIR)$(DATADIR)/drplay/schemas $(DESTDIR)$(DATADIR)/drplay/playbooks
	install -m 644 $(SCHEMAS) $(DESTDIR)$(DATADIR)/drplay/schemas/
	install -m 644 $(SHIPPED_PLAYBOOKS) $(DESTDIR)$(DATADIR)/drplay/playbooks/

# Removes exactly what install wrote (and drplay's own share/ folders once empty).
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(DATADIR)/drplay/schemas $(DESTDIR)$(DATADIR)/drplay/playbooks $(DESTDIR)$(DATADIR)/drplay 2>/dev/null

# A Debian package of this build. The runtime libraries: those the binary
# links, and those lib/lazy.c loads on first use (libpq, libcurl, OpenSSL);
# tests/integration/install.sh checks every one of them is covered.
DEBDIR ?= build/deb
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB_DEPENDS = libc6, libyaml-0-2, libpq5, libcurl4, libpcre2-8-0, libjansson4, libexpat1, libhiredis0.14, \
	libssl3, zlib1g
deb: $(BIN) $(MANOUT)/drplay.1 $(MANOUT)/drplay-playbook.5
	@rm -rf $(DEBDIR)/root
	@$(MAKE) --no-print-directory -o $(BIN) install DESTDIR=$(abspath $(DEBDIR))/root PREFIX=/usr \
		ZSHCOMPDIR=/usr/share/zsh/vendor-completions MANOUT=$(MANOUT) BIN=$(BIN) >/dev/null
	@gzip -9n $(DEBDIR)/root/usr/share/man/man1/drplay.1 $(DEBDIR)/root/usr/share/man/man5/drplay-playbook.5
	@mkdir -p $(DEBDIR)/root/DEBIAN
	@printf '%s\n' 'Package: drplay' 'Version: $(VERSION)' 'Architecture: $(DEB_ARCH)' \
		'Maintainer: drplay maintainers <drplay@localhost>' 'Section: admin' 'Priority: optional' \
		'Installed-Size: '"$$(du -sk $(DEBDIR)/root/usr | cut -f1)" \
		'Depends: $(DEB_DEPENDS)' 'Recommends: postgresql-client' \
		'Description: database disaster-recovery playbook interpreter' \
		' drplay checks, plans and runs YAML playbooks that restore a PostgreSQL' \
		' database, verify the copy and drive the steps around it (maintenance' \
		' switches, snapshots, reports), with validation and disaster modes.' \
		>$(DEBDIR)/root/DEBIAN/control
	@dpkg-deb --root-owner-group --build $(DEBDIR)/root $(DEBDIR)/drplay_$(VERSION)_$(DEB_ARCH).deb >/dev/null
	@echo "  DEB     $(DEBDIR)/drplay_$(VERSION)_$(DEB_ARCH).deb"

clean:
	rm -rf build drplay tests/drplay-test
