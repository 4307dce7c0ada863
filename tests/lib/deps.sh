#!/usr/bin/env bash
# tests/lib/deps.sh - install what drplay's build and tests need (`make deps`).
#
# Idempotent and fast when everything is present: checks each Debian package
# with dpkg-query and only then runs `apt-get update` + `apt-get install -y
# --no-install-recommends` for the missing ones (as root; else via sudo when
# available; else prints the exact command and exits 1).  nodejs/npm are only
# installed when `node`/`npm` are not already on PATH.  Then runs
# `npm ci --no-audit --no-fund` in tests/node when node_modules is missing or
# older than package-lock.json.
#
# Services: Debian's postgresql, redis-server and nginx packages normally start
# system-wide daemons on install (a `main` PostgreSQL cluster on 5432, redis on
# 6379, nginx on 80).  The tests never use them (own clusters/servers on free
# loopback ports), so while installing this script blocks service start-up
# with a temporary /usr/sbin/policy-rc.d (only when none exists).  Set
# DRPLAY_DEPS_START_SERVICES=1 to let the packages start their services.
#
# Options:
#   --build   only what compiling drplay needs (make deps-build): the compiler,
#             pkg-config and the -dev packages; no servers, no node modules
#   --check   install nothing: print one line naming what is missing and exit 1
#             (what a plain `make` says on a machine that lacks the build packages)
# Env: DRPLAY_DEPS_DRY_RUN=1 only reports what is missing (exit 1 if anything is).
set -euo pipefail

BUILD_ONLY=0
CHECK_ONLY=0
for arg in "$@"; do
    case $arg in
    --build) BUILD_ONLY=1 ;;
    --check) CHECK_ONLY=1 ;;
    *) printf 'deps: unknown option %s (use --build, --check)\n' "$arg" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NODE_DIR=$ROOT/tests/node

# What compiling drplay needs (the -dev packages behind the Makefile's PKGS).
BUILD_PKGS=(
    build-essential pkg-config
    libyaml-dev libpq-dev libcurl4-openssl-dev libssl-dev libpcre2-dev libjansson-dev
    libexpat1-dev libhiredis-dev zlib1g-dev
)
PKGS=("${BUILD_PKGS[@]}")
if ((!BUILD_ONLY)); then
    PKGS+=(
        clang libclang-rt-14-dev
        postgresql-15 postgresql-contrib pgbackrest
        redis-server nginx-light
        curl jq procps util-linux ca-certificates time gzip
        man-db groff-base zsh
    )
    command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
    command -v npm >/dev/null 2>&1 || PKGS+=(npm)
fi

say() { printf 'deps: %s\n' "$*" >&2; }

# one dpkg-query for all packages ("name status" lines; unknown ones are absent)
declare -A installed=()
while read -r name status; do
    [[ $status == "install ok installed" ]] && installed[${name%%:*}]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>/dev/null || true)
missing=()
for p in "${PKGS[@]}"; do
    [[ -n ${installed[$p]:-} ]] || missing+=("$p")
done

if ((CHECK_ONLY)); then
    if ((${#missing[@]})); then
        printf 'drplay: cannot build, missing Debian packages: %s (`make deps-build` installs them, `make deps` everything the tests need too)\n' \
            "${missing[*]}" >&2
        exit 1
    fi
    if ! command -v pkg-config >/dev/null 2>&1; then
        printf 'drplay: cannot build, pkg-config is not on PATH (`make deps-build` installs it)\n' >&2
        exit 1
    fi
    printf 'drplay: cannot build, pkg-config does not find: %s (are the -dev packages of another architecture?)\n' \
        "$(for m in ${DRPLAY_PKG_MODULES:-}; do
            pkg-config --exists "$m" 2>/dev/null || printf '%s ' "$m"; done)" >&2
    exit 1
fi

if ((${#missing[@]})); then
    say "missing Debian packages: ${missing[*]}"
    if [[ ${DRPLAY_DEPS_DRY_RUN:-0} == 1 ]]; then exit 1; fi
    SUDO=()
    if [[ $EUID -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            SUDO=(sudo -n)
        elif command -v sudo >/dev/null 2>&1 && [[ -t 0 ]]; then
            SUDO=(sudo)
        else
            say "not root and no usable sudo; run as root:"
            printf '  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s\n' \
                "${missing[*]}" >&2
            exit 1
        fi
    fi
    policy_created=0
    if [[ ${DRPLAY_DEPS_START_SERVICES:-0} != 1 && ! -e /usr/sbin/policy-rc.d ]]; then
        "${SUDO[@]}" sh -c 'printf "#!/bin/sh\n# temporary, from drplay tests/lib/deps.sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d'
        policy_created=1
        trap '"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    if ((policy_created)); then
        "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
else
    say "Debian packages: all present"
fi

((BUILD_ONLY)) && exit 0

# Node modules for the test helpers (s3rver, ajv, js-yaml)
if [[ ! -d $NODE_DIR/node_modules || ! -f $NODE_DIR/node_modules/.package-lock.json ||
    $NODE_DIR/package-lock.json -nt $NODE_DIR/node_modules/.package-lock.json ]]; then
    if [[ ${DRPLAY_DEPS_DRY_RUN:-0} == 1 ]]; then
        say "tests/node/node_modules missing or stale"
        exit 1
    fi
    say "npm ci in tests/node"
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
else
    say "tests/node/node_modules: up to date"
fi

# PostgreSQL server binaries (the tests look here, not on PATH)
pgbin=/usr/lib/postgresql/15/bin
[[ -x $pgbin/initdb ]] || { say "error: $pgbin/initdb missing after install"; exit 1; }
