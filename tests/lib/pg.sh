# shellcheck shell=bash source-path=SCRIPTDIR
# tests/lib/pg.sh - throwaway PostgreSQL 15 clusters for tests.
#
#   pg_start NAME [--archive | --pgbackrest STANZA] [--conf 'key=value']... [--no-pw-role]
#       initdb + start a cluster in $T_TMP/pg-NAME.*; 127.0.0.1:<free port> and a
#       Unix socket in its own dir.  Fast, non-durable defaults (fsync=off,
#       synchronous_commit=off); any --conf line is appended last and wins
#       (e.g. --conf fsync=on).  --archive: wal_level=replica, archive_mode=on,
#       archive_command copies each segment into $NAME_ARCHIVE (files 0644),
#       max_wal_senders=10 (pg_basebackup works).  Stopped at exit.
#       --pgbackrest STANZA: like --archive, but archive_command is
#       pgbackrest archive-push into a repo in $NAME_DIR/pgbackrest-repo; the
#       stanza is created after start.  Exports NAME_PGBR_CONF, NAME_PGBR_STANZA,
#       NAME_PGBR_REPO; run pgBackRest with pg_pgbackrest NAME ARGS (as postgres,
#       --config and --stanza added), e.g. pg_pgbackrest PG backup --type=full
#   Exports (NAME=PG shown):
#       PG_PORT PG_HOST (socket dir) PG_DATA PG_DIR PG_LOG PG_ARCHIVE PG_PID
#       PG_DSN      postgresql://postgres@127.0.0.1:PORT/postgres  (trust)
#       PG_PW_USER  drplay_pw        PG_PW_PASSWORD  drplay-pw-secret
#       PG_PW_DSN   postgresql://drplay_pw:drplay-pw-secret@127.0.0.1:PORT/postgres
#   pg_stop NAME          fast shutdown (idempotent)
#   pg_kill NAME          SIGKILL the postmaster (crash; restart => crash recovery)
#   pg_restart NAME       (re)start the cluster on the same port and data dir
#   pg_psql NAME [ARGS]   psql -X -q -v ON_ERROR_STOP=1 as postgres (default db postgres;
#                         a later -d DB wins)
#   pg_sql NAME DB SQL    run SQL, print unaligned tuples-only output (-At)
#   pg_createdb NAME DB   create DB if it does not exist
#   pg_load_fixture NAME DB      create DB and load tests/lib/pg_fixture.sql
#   pg_pgbench_init NAME DB SCALE  create DB and run pgbench -i -s SCALE
#   pg_as_postgres CMD...  run CMD as the postgres OS user when root (cwd /)
#   pg_pgbackrest NAME ARGS...  pgbackrest --config=$NAME_PGBR_CONF --stanza=... ARGS
#   PGBIN                  directory with initdb, pg_ctl, psql, pg_dump, ...
#
# Authentication (pg_hba.conf):
#   local (socket), all users ................................. trust
#   host 127.0.0.1/::1, user drplay_pw ........................ scram-sha-256
#   host 127.0.0.1/::1, every other user (incl. replication) . trust
# So password tests connect with $NAME_PW_DSN (or -h 127.0.0.1 -U drplay_pw and
# PGPASSWORD); a wrong password fails.  drplay_pw is LOGIN CREATEDB and a
# member of pg_read_all_data and pg_write_all_data, not a superuser; adjust
# with pg_psql NAME -c 'ALTER ROLE drplay_pw ...'.  The libpq environment
# (PGHOST, PGPORT, PGUSER, PGPASSWORD, ...) is cleared when this file is sourced.
#
# As root, initdb/pg_ctl/postgres run as the `postgres` OS user and the
# cluster dir is owned by it; psql/pg_dump/pgbench can run as root (socket
# and loopback are open to everybody).

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

unset PGHOST PGHOSTADDR PGPORT PGUSER PGPASSWORD PGPASSFILE PGDATABASE PGSERVICE \
    PGSERVICEFILE PGSSLMODE PGOPTIONS PGAPPNAME PGDATA PGCONNECT_TIMEOUT PGTARGETSESSIONATTRS

PG_PW_ROLE_USER=drplay_pw
PG_PW_ROLE_PASSWORD=drplay-pw-secret

_pg_find_bindir() {
    local d
    if [[ -n ${DRPLAY_PG_BINDIR:-} ]]; then
        printf '%s\n' "$DRPLAY_PG_BINDIR"
        return
    fi
    d=$(pg_config --bindir 2>/dev/null) || d=
    if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then
        printf '%s\n' "$d"
        return
    fi
    for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
        if [[ -x $d/initdb ]]; then
            printf '%s\n' "$d"
            return
        fi
    done
    printf '%s\n' /usr/lib/postgresql/15/bin
}
PGBIN=$(_pg_find_bindir)
export PGBIN

_pg_is_root() { [[ $EUID -eq 0 ]]; }

# pg_as_postgres CMD...: CMD as the postgres OS user when root, else directly.
# Runs with cwd / (root's cwd is often unreadable for postgres): pass absolute paths.
pg_as_postgres() {
    if _pg_is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# _pg_var NAME SUFFIX -> value of ${NAME}_SUFFIX ('' if unset)
_pg_var() {
    local v="${1}_$2"
    printf '%s' "${!v:-}"
}

_pg_export() { # NAME SUFFIX VALUE
    export "${1}_$2=$3"
}

_pg_write_conf() { # name dir data sock port archive conf...
    local name=$1 dir=$2 data=$3 sock=$4 port=$5 archive=$6 pgbr=$7
    local arch=$dir/wal_archive
    shift 7
    {
        printf '\n# ---- drplay test harness (%s) ----\n' "$name"
        printf "listen_addresses = '127.0.0.1'\n"
        printf 'port = %s\n' "$port"
        printf "unix_socket_directories = '%s'\n" "$sock"
        printf 'max_connections = 50\n'
        printf 'shared_buffers = 64MB\n'
        printf 'fsync = off\n'
        printf 'synchronous_commit = off\n'
        printf 'max_wal_size = 512MB\n'
        printf "password_encryption = 'scram-sha-256'\n"
        printf "log_line_prefix = '%%m [%%p] %%q%%u@%%d '\n"
        printf "log_timezone = 'UTC'\n"
        printf "timezone = 'UTC'\n"
        printf 'logging_collector = off\n'
        if ((archive)); then
            printf "wal_level = replica\n"
            printf "archive_mode = on\n"
            if [[ -n $pgbr ]]; then
                printf "archive_command = 'pgbackrest --config=%s/pgbackrest.conf --stanza=%s archive-push \"%%p\"'\n" "$dir" "$pgbr"
            else
                # atomic: copy to .part, then rename; never overwrite
                printf "archive_command = 'test ! -f \"%s/%%f\" && cp \"%%p\" \"%s/%%f.part\" && chmod 0644 \"%s/%%f.part\" && mv \"%s/%%f.part\" \"%s/%%f\"'\n" \
                    "$arch" "$arch" "$arch" "$arch" "$arch"
            fi
            printf 'max_wal_senders = 10\n'
            printf 'max_replication_slots = 10\n'
        fi
        local c
        for c in "$@"; do
            printf '%s\n' "$c"
        done
    } >>"$data/postgresql.conf"
    cat >"$data/pg_hba.conf" <<EOF
# drplay test harness: see tests/lib/pg.sh
# TYPE  DATABASE     USER        ADDRESS        METHOD
local   all          all                        trust
local   replication  all                        trust
host    all          $PG_PW_ROLE_USER   127.0.0.1/32   scram-sha-256
host    all          $PG_PW_ROLE_USER   ::1/128        scram-sha-256
host    all          all         127.0.0.1/32   trust
host    all          all         ::1/128        trust
host    replication  all         127.0.0.1/32   trust
host    replication  all         ::1/128        trust
EOF
}

# pg_start NAME [--archive] [--conf key=value]... [--no-pw-role]
pg_start() {
    local name=${1:-}
    [[ -n $name ]] || die_setup "pg_start: missing NAME"
    _t_check_name "$name"
    shift
    local archive=0 pwrole=1 confs=() pgbr=''
    while (($#)); do
        case $1 in
        --archive) archive=1 ;;
        --pgbackrest)
            [[ ${2:-} =~ ^[A-Za-z0-9_.-]+$ ]] || die_setup "pg_start $name: --pgbackrest needs a stanza name"
            archive=1 pgbr=$2
            shift
            ;;
        --conf) confs+=("$2"); shift ;;
        --conf=*) confs+=("${1#--conf=}") ;;
        --no-pw-role) pwrole=0 ;;
        *) die_setup "pg_start $name: unknown option '$1'" ;;
        esac
        shift
    done
    [[ -x $PGBIN/initdb && -x $PGBIN/pg_ctl ]] ||
        die_setup "pg $name: PostgreSQL server binaries not found in $PGBIN (install postgresql-15: make deps)"
    if _pg_is_root; then
        id postgres >/dev/null 2>&1 || die_setup "pg $name: running as root but there is no 'postgres' OS user"
        runuser -u postgres -- test -x "$T_TMP" ||
            die_setup "pg $name: the postgres user cannot reach $T_TMP (make its parent directories traversable, or set TMPDIR)"
    fi

    local dir data sock log locale=C
    dir=$(t_tmpdir "pg-$name") || die_setup "pg $name: cannot create a temp dir in $T_TMP"
    data=$dir/data sock=$dir/sock log=$dir/postgres.log
    [[ $dir != *"'"* && $dir != *'"'* ]] || die_setup "pg $name: temp dir path contains quotes: $dir"
    mkdir -p "$sock" "$dir/wal_archive"
    chmod 0755 "$dir/wal_archive" "$sock"
    : >"$log"
    if _pg_is_root; then chown -R postgres: "$dir"; fi

    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
    local out
    if ! out=$(pg_as_postgres "$PGBIN/initdb" -D "$data" -U postgres -A trust -E UTF8 \
        --locale="$locale" --no-sync --no-instructions 2>&1); then
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /' >&2
        die_setup "pg $name: initdb failed in $data"
    fi

    _pg_export "$name" DIR "$dir"
    _pg_export "$name" DATA "$data"
    _pg_export "$name" HOST "$sock"
    _pg_export "$name" LOG "$log"
    _pg_export "$name" ARCHIVE "$dir/wal_archive"
    on_exit pg_stop "$name"

    local attempt port ok=0
    for attempt in 1 2 3; do
        port=$(free_port) || die_setup "pg $name: no free port"
        # rewrite the harness section each attempt (only the port changes)
        if ((attempt > 1)); then
            # shellcheck disable=SC2016 # sed address, not a shell expansion
            pg_as_postgres sed -i '/^# ---- drplay test harness/,$d' "$data/postgresql.conf"
        fi
        _pg_write_conf "$name" "$dir" "$data" "$sock" "$port" "$archive" "$pgbr" "${confs[@]}"
        if _pg_is_root; then chown postgres: "$data/postgresql.conf" "$data/pg_hba.conf"; fi
        _pg_export "$name" PORT "$port"
        if _pg_ctl_start "$name"; then
            ok=1
            break
        fi
        grep -q 'Address already in use' "$log" || break
        printf '# pg %s: port %s was taken, retrying\n' "$name" "$port" >&2
    done
    if ((!ok)); then
        log_tail "$log" 30
        die_setup "pg $name: PostgreSQL did not start on 127.0.0.1:$port (data $data, log $log)"
    fi

    _pg_export "$name" DSN "postgresql://postgres@127.0.0.1:$port/postgres"
    _pg_export "$name" PW_USER "$PG_PW_ROLE_USER"
    _pg_export "$name" PW_PASSWORD "$PG_PW_ROLE_PASSWORD"
    _pg_export "$name" PW_DSN "postgresql://$PG_PW_ROLE_USER:$PG_PW_ROLE_PASSWORD@127.0.0.1:$port/postgres"

    if [[ -n $pgbr ]]; then
        _pg_pgbackrest_setup "$name" "$pgbr"
    fi

    if ((pwrole)); then
        pg_psql "$name" -c "CREATE ROLE $PG_PW_ROLE_USER LOGIN CREATEDB PASSWORD '$PG_PW_ROLE_PASSWORD';
            GRANT pg_read_all_data, pg_write_all_data TO $PG_PW_ROLE_USER;" >/dev/null ||
            die_setup "pg $name: could not create role $PG_PW_ROLE_USER"
    fi
}

# start the (configured) cluster and wait until it accepts connections
_pg_ctl_start() {
    local name=$1 data host port log pid
    data=$(_pg_var "$name" DATA) host=$(_pg_var "$name" HOST)
    port=$(_pg_var "$name" PORT) log=$(_pg_var "$name" LOG)
    # -W: do not let pg_ctl wait (its default 60 s); we poll pg_isready ourselves
    if ! pg_as_postgres "$PGBIN/pg_ctl" -D "$data" -l "$log" -W start >/dev/null 2>&1; then
        return 1
    fi
    local i
    for ((i = 0; i < 600; i++)); do # 30 s
        # postmaster gone (bind failure, bad config): stop polling early
        if ((i > 4)) && [[ ! -f $data/postmaster.pid ]]; then
            return 1
        fi
        # the socket (in our own dir) first: nobody else can answer there
        if "$PGBIN/pg_isready" -q -h "$host" -p "$port" -U postgres -d postgres -t 2 &&
            "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -t 2; then
            pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
            _pg_export "$name" PID "$pid"
            t_watch_pid "$pid" QUIT
            return 0
        fi
        sleep 0.05
    done
    return 1
}

pg_stop() {
    local name=$1 data pid
    data=$(_pg_var "$name" DATA)
    [[ -n $data && -f $data/postmaster.pid ]] || return 0
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
    if ! pg_as_postgres "$PGBIN/pg_ctl" -D "$data" -m fast -t 20 -w stop >/dev/null 2>&1; then
        pg_as_postgres "$PGBIN/pg_ctl" -D "$data" -m immediate -t 10 -w stop >/dev/null 2>&1 ||
            stop_pid "$pid" 5 KILL
    fi
    [[ -n $pid ]] && t_unwatch_pid "$pid"
    return 0
}

# pg_kill NAME: crash the server (SIGKILL the postmaster, wait for its children)
pg_kill() {
    local name=$1 data pid kids k i alive
    data=$(_pg_var "$name" DATA)
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || return 0
    [[ -n $pid ]] || return 0
    kids=$(pgrep -P "$pid" 2>/dev/null) || kids=
    # the whole server at once, as a crash or an OOM kill of the machine does
    # (a backend busy streaming COPY would otherwise finish its statement
    # before it noticed that the postmaster died)
    # shellcheck disable=SC2086
    kill -KILL "$pid" $kids 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        alive=0
        for k in $pid $kids; do kill -0 "$k" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.05
    done
    for k in $kids; do kill -KILL "$k" 2>/dev/null; done
    t_unwatch_pid "$pid"
    return 0
}

# pg_restart NAME: start again (after pg_stop/pg_kill, or restart if running)
pg_restart() {
    local name=$1 data
    data=$(_pg_var "$name" DATA)
    [[ -n $data ]] || die_setup "pg_restart: unknown cluster $name"
    pg_stop "$name"
    if ! _pg_ctl_start "$name"; then
        log_tail "$(_pg_var "$name" LOG)" 30
        die_setup "pg $name: PostgreSQL did not restart on 127.0.0.1:$(_pg_var "$name" PORT)"
    fi
}

pg_psql() {
    local name=$1
    shift
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(_pg_var "$name" HOST)" -p "$(_pg_var "$name" PORT)" \
        -U postgres -d postgres "$@"
}

pg_sql() { # NAME DB SQL
    pg_psql "$1" -d "$2" -At -c "$3"
}

pg_createdb() { # NAME DB
    local exists
    exists=$(pg_psql "$1" -At -v db="$2" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'db';
SQL
    ) || return 1
    [[ $exists == 1 ]] && return 0
    pg_psql "$1" -v db="$2" <<'SQL'
CREATE DATABASE :"db";
SQL
}

pg_load_fixture() { # NAME DB
    local name=$1 db=${2:-postgres}
    pg_createdb "$name" "$db" || die_setup "pg $name: cannot create database $db"
    pg_psql "$name" -d "$db" -f "$T_LIB/pg_fixture.sql" >/dev/null ||
        die_setup "pg $name: loading tests/lib/pg_fixture.sql into $db failed"
}

pg_pgbench_init() { # NAME DB SCALE
    local name=$1 db=$2 scale=${3:-1} out
    pg_createdb "$name" "$db" || die_setup "pg $name: cannot create database $db"
    out=$("$PGBIN/pgbench" -i -q -s "$scale" -h "$(_pg_var "$name" HOST)" -p "$(_pg_var "$name" PORT)" \
        -U postgres "$db" 2>&1) || {
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /' >&2
        die_setup "pg $name: pgbench -i -s $scale $db failed"
    }
}

_pg_pgbackrest_setup() { # NAME STANZA
    local name=$1 stanza=$2 dir out
    dir=$(_pg_var "$name" DIR)
    command -v pgbackrest >/dev/null 2>&1 || die_setup "pg $name: pgbackrest not found (make deps)"
    mkdir -p "$dir/pgbackrest-repo" "$dir/pgbackrest-log" "$dir/pgbackrest-lock" "$dir/pgbackrest-spool"
    cat >"$dir/pgbackrest.conf" <<EOF
# generated by tests/lib/pg.sh for $name
[global]
repo1-path=$dir/pgbackrest-repo
repo1-retention-full=4
log-path=$dir/pgbackrest-log
lock-path=$dir/pgbackrest-lock
spool-path=$dir/pgbackrest-spool
log-level-console=warn
log-level-file=detail
compress-type=zst
compress-level=1
start-fast=y
delta=y
process-max=2

[$stanza]
pg1-path=$(_pg_var "$name" DATA)
pg1-port=$(_pg_var "$name" PORT)
pg1-socket-path=$(_pg_var "$name" HOST)
pg1-user=postgres
EOF
    if _pg_is_root; then chown -R postgres: "$dir/pgbackrest.conf" "$dir"/pgbackrest-*; fi
    _pg_export "$name" PGBR_CONF "$dir/pgbackrest.conf"
    _pg_export "$name" PGBR_STANZA "$stanza"
    _pg_export "$name" PGBR_REPO "$dir/pgbackrest-repo"
    if ! out=$(pg_pgbackrest "$name" stanza-create 2>&1); then
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /' >&2
        log_tail "$dir/pgbackrest-log/$stanza-stanza-create.log" 20
        die_setup "pg $name: pgbackrest stanza-create $stanza failed"
    fi
}

# pg_pgbackrest NAME ARGS...: pgbackrest as postgres with this cluster's config
pg_pgbackrest() {
    local name=$1
    shift
    pg_as_postgres pgbackrest --config="$(_pg_var "$name" PGBR_CONF)" --stanza="$(_pg_var "$name" PGBR_STANZA)" "$@"
}
