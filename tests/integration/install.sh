#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/install.sh - drplay installs like a tool: `make install`
# into a DESTDIR puts the binary, the man pages (written by the binary from
# its command table and registry), bash and zsh completion, the schemas and
# the shipped playbooks where they belong, and `make uninstall` leaves
# nothing behind; `make deb` builds a package whose dependencies cover every
# library the binary links or loads, which installs into a scratch root
# (dpkg --root, and dpkg-deb -x) and runs; the completions offer the
# commands, flags, action names and playbook files. Everything is built
# from the binary under test (DRPLAY_BIN), never rebuilt here.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
require_drplay

VERSION=$(sed -n 's/^#define DRPLAY_VERSION "\(.*\)"/\1/p' "$ROOT/lib/version.h")
mk() { make -s -C "$ROOT" -o "$DRPLAY" BIN="$DRPLAY" MANOUT="$T_TMP/man" "$@"; }
D=$T_TMP/dest

# ---- a plain `make` builds drplay (its goal is `all`, not the first rule) ----
t_eq "make alone builds all" ".DEFAULT_GOAL := all" \
    "$(make -C "$ROOT" -np 2>/dev/null | grep -x '\.DEFAULT_GOAL := .*')"

# ---- make install / uninstall ----
t_exit "make install PREFIX=/usr/local DESTDIR=..." 0 mk install DESTDIR="$D" PREFIX=/usr/local
want=$(printf '%s\n' bin/drplay share/bash-completion/completions/drplay share/man/man1/drplay.1 \
    share/man/man5/drplay-playbook.5 share/zsh/site-functions/_drplay \
    "${ROOT}"/grammar/*.json "${ROOT}"/playbooks/*.yaml |
    sed -e "s|^$ROOT/grammar/|share/drplay/schemas/|" -e "s|^$ROOT/playbooks/|share/drplay/playbooks/|" | sort)
t_eq "... installs exactly the binary, pages, completions, schemas and playbooks" "$want" \
    "$(cd "$D/usr/local" && find . -type f | sed 's|^\./||' | sort)"
t_exit "the installed drplay runs" 0 "$D/usr/local/bin/drplay" --version
t_eq "... and is this version" "drplay $VERSION" "$T_OUT"
t_check "the installed schemas are JSON" jq -e . "$D"/usr/local/share/drplay/schemas/playbook.schema.json
t_exit "man -l drplay.1 renders" 0 env MANWIDTH=100 man -l "$D/usr/local/share/man/man1/drplay.1"
page1=$T_OUT
for cmd in $("$DRPLAY" help | awk '/^commands:/ { f = 1; next } f && /^  [a-z]/ { print $1 }'); do
    t_check "drplay(1) has the command '$cmd' (from the command table)" grep -q "^   $cmd\$" <<<"$page1"
done
t_contains "drplay(1) has the exit codes" "$page1" "stopped before any state-changing step ran"
t_exit "man -l drplay-playbook.5 renders" 0 env MANWIDTH=100 man -l "$D/usr/local/share/man/man5/drplay-playbook.5"
page5=$T_OUT
nact=$("$DRPLAY" actions | awk 'NR > 1 && NF == 0 { exit } NR > 1 { n++ } END { print n }')
t_eq "drplay-playbook(5) has every registered action ($nact)" "$nact" \
    "$("$DRPLAY" actions | awk 'NR > 1 && NF == 0 { exit } NR > 1 { print $1 }' | while read -r a; do
        grep -qx "   $a" <<<"$page5" && echo "$a"; done | wc -l)"
t_contains "drplay-playbook(5) has the redis driver's url field (from its declaration)" "$(tr -s ' \n' '  ' <<<"$page5")" \
    "redis://[user:password@]host[:port][/db], user and password percent-encoded"
t_eq "groff has no warnings about either page" "" \
    "$(for p in man1/drplay.1 man5/drplay-playbook.5; do
        groff -man -ww -z "$D/usr/local/share/man/$p" 2>&1; done)"
t_exit "make uninstall DESTDIR=..." 0 mk uninstall DESTDIR="$D" PREFIX=/usr/local
t_eq "... leaves no file behind" "" "$(find "$D" -type f -o -type l)"
t_check "... nor drplay's share folder" test ! -e "$D/usr/local/share/drplay"

# ---- bash completion ----
comp() { # WORDS...: the candidates bash completion offers for the last word
    (
        cd "$T_TMP/pbs" || exit 1
        PATH=$D/usr/bin:$PATH
        # shellcheck disable=SC1091
        . "$D/usr/share/bash-completion/completions/drplay"
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _drplay
        printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
    )
}
mkdir -p "$T_TMP/pbs/sub" && touch "$T_TMP/pbs/a.yaml" "$T_TMP/pbs/b.yml" "$T_TMP/pbs/notes.txt"
t_exit "make install PREFIX=/usr for the completion tests" 0 mk install DESTDIR="$D" PREFIX=/usr
t_eq "bash: complete -p names the function" "complete -F _drplay drplay" \
    "$(bash -c ". '$D/usr/share/bash-completion/completions/drplay'; complete -p drplay")"
t_eq "bash: drplay <TAB> offers every command" \
    "$( (printf '%s\n' --help --version; "$DRPLAY" help | awk '/^commands:/ { f = 1; next } f && /^  [a-z]/ { print $1 }') | sort | tr '\n' ' ' | sed 's/ $//')" \
    "$(comp drplay '')"
t_eq "bash: drplay ru<TAB>" run "$(comp drplay ru)"
t_eq "bash: drplay run --mo<TAB>" "--mode=" "$(comp drplay run x.yaml --mo)"
t_eq "bash: drplay run --mode=d<TAB>" "--mode=disaster" "$(comp drplay run --mode=d)"
t_eq "bash: drplay plan --dr<TAB> (plan takes run's options)" "--dry-run" "$(comp drplay plan --dr)"
t_eq "bash: drplay lint --format=s<TAB>" "--format=sarif" "$(comp drplay lint --format=s)"
t_eq "bash: drplay actions pg.c<TAB> (action names)" "pg.capture pg.checksum pg.counts" "$(comp drplay actions pg.c)"
t_eq "bash: drplay actions mainten<TAB> (kinds and actions)" \
    "maintenance maintenance.off maintenance.on maintenance.status" "$(comp drplay actions mainten)"
t_eq "bash: drplay lint <TAB> offers playbooks and folders, not other files" "a.yaml b.yml sub" "$(comp drplay lint '')"
t_eq "bash: drplay maintenance <TAB>" "off on status" "$(comp drplay maintenance '')"

# ---- zsh completion: the function driven with zsh's completion builtins recorded ----
zcomp() { # WORDS...: what the zsh function adds for the last word
    (cd "$T_TMP/pbs" && PATH=$D/usr/bin:$PATH zsh -f -c '
        compadd() { local a; for a in "$@"; do [[ $a == -S || $a == "" || $a == -- ]] || print -r -- "$a"; done; }
        _describe() { local -a arr; arr=("${(@P)${@[-1]}}"); print -rl -- $arr; }
        _files() { print -r -- "FILES $*"; }
        f=$1; shift
        words=("$@"); CURRENT=$#
        source "$f" # as autoload would: the file is the body, ending in a call of _drplay' zsh "$D/usr/share/zsh/site-functions/_drplay" "$@" | sort | tr '\n' ' ' | sed 's/ $//')
}
t_check "zsh: the script parses" zsh -n "$D/usr/share/zsh/site-functions/_drplay"
# every command `drplay help` lists (but `version`, which is --version)
cmds=$("$DRPLAY" help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ && $1 != "version" { print $1 }' | sort | tr '\n' ' ' | sed 's/ $//')
t_check "drplay help lists commands" test -n "$cmds"
t_contains "zsh: drplay <TAB> offers every command" "$(zcomp drplay '')" "$cmds"
t_contains "zsh: drplay actions <TAB> offers pg.counts" "$(zcomp drplay actions '')" "pg.counts"
t_contains "zsh: drplay run --<TAB> offers --mode=" "$(zcomp drplay run --)" "--mode="
t_eq "zsh: drplay lint <TAB> offers playbooks" "FILES -g *.(yaml|yml)" "$(zcomp drplay lint '')"
mk uninstall DESTDIR="$D" PREFIX=/usr

# ---- make deb ----
t_exit "make deb" 0 mk deb DEBDIR="$T_TMP/deb"
DEB=$(ls "$T_TMP"/deb/*.deb 2>/dev/null)
t_check "... builds drplay_${VERSION}_ARCH.deb" test -f "$T_TMP/deb/drplay_${VERSION}_$(dpkg --print-architecture).deb"
deps=$(dpkg-deb -f "$DEB" Depends)
# every library the binary links, and those lib/lazy.c loads on first use,
# belongs to a package the deb depends on (the sanitizer runtimes of the
# sanitized test build excepted)
sonames=$( (objdump -p "$DRPLAY" | awk '$1 == "NEEDED" { print $2 }'; printf '%s\n' libpq.so.5 libcurl.so.4 libcrypto.so.3) |
    grep -Ev '^lib(asan|ubsan)\.so' | sort -u)
for so in $sonames; do
    path=$(ldconfig -p | awk -v s="$so" '$1 == s { print $NF; exit }')
    pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
    [[ -n $pkg ]] || pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
    t_check "deb Depends covers $so ($pkg)" grep -Eq "(^|, )$pkg(,|$| )" <<<"$deps"
done
R=$T_TMP/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" && : >"$R/var/lib/dpkg/status"
t_exit "dpkg --root installs the package into a scratch root" 0 \
    dpkg --root="$R" --force-depends --force-not-root --log=/dev/null -i "$DEB"
t_exit "... whose drplay runs" 0 "$R/usr/bin/drplay" --version
t_eq "... this version" "drplay $VERSION" "$T_OUT"
t_exit "... whose drplay(1) renders (man -l)" 0 man -l "$R/usr/share/man/man1/drplay.1.gz"
t_contains "... the page names itself" "$T_OUT" "drplay - run database disaster-recovery playbooks"
t_exit "... and drplay-playbook(5)" 0 man -l "$R/usr/share/man/man5/drplay-playbook.5.gz"
t_contains "... which describes pg.counts" "$T_OUT" "pg.counts"
t_check "... the bash completion is where bash-completion looks" test -f "$R/usr/share/bash-completion/completions/drplay"
t_check "... the zsh one where Debian's zsh looks" test -f "$R/usr/share/zsh/vendor-completions/_drplay"
t_exit "the installed drplay lints the installed playbooks" 0 "$R/usr/bin/drplay" lint "$R"/usr/share/drplay/playbooks/*.yaml
t_exit "dpkg --root removes it" 0 dpkg --root="$R" --force-not-root --log=/dev/null -r drplay
t_eq "... leaving no file of it" "" "$(find "$R" -path "$R/var" -prune -o \( -type f -o -type l \) -print)"
X=$T_TMP/x
t_exit "dpkg-deb -x unpacks it too" 0 dpkg-deb -x "$DEB" "$X"
t_exit "... and that drplay runs" 0 "$X/usr/bin/drplay" --version
