# shellcheck shell=bash source-path=SCRIPTDIR
# tests/lib/s3.sh - a real S3-protocol store for tests: s3rver (npm) behind a
# real nginx reverse proxy that enforces a read-only access key.
#
#   client --> nginx 127.0.0.1:$NAME_PORT  (= $NAME_ENDPOINT)
#                |  PUT/POST/DELETE/PATCH signed with the read-only key id
#                |  -> 403 <Error><Code>AccessDenied</Code>... from nginx itself
#                |  upstream down -> 503 <Error><Code>ServiceUnavailable</Code>...
#                v
#              s3rver 127.0.0.1:$NAME_DIRECT_PORT (= $NAME_DIRECT_ENDPOINT)
#                unknown key id -> 403 InvalidAccessKeyId (from s3rver)
#
#   s3_start NAME [--bucket B] [--rw-key ID] [--ro-key ID] [--secret S]
#   Exports (NAME=S3 shown; path-style URLs: $S3_ENDPOINT/$S3_BUCKET/key):
#     S3_ENDPOINT         http://127.0.0.1:PORT  (nginx proxy: use this)
#     S3_DIRECT_ENDPOINT  http://127.0.0.1:PORT2 (s3rver itself, no RO enforcement)
#     S3_BUCKET           drplay-backups (created at start)
#     S3_RW_KEY           DRPLAYRWKEY0000000001   read-write access key id
#     S3_RO_KEY           DRPLAYROKEY0000000002   read-only (enforced by nginx)
#     S3_BAD_KEY          DRPLAYBADKEY000000003   not registered anywhere
#     S3_SECRET           secret for both keys (SigV4 secrets are not verified)
#     S3_REGION           us-east-1
#     S3_PORT S3_DIRECT_PORT S3_DIR S3_DATA_DIR S3_PROXY_PID S3_SERVER_PID
#     S3_PROXY_LOG (nginx access log) S3_SERVER_LOG
#   s3_stop NAME            stop proxy, server and fault proxy (idempotent)
#   s3_proxy_stop NAME      stop nginx only: $NAME_ENDPOINT refuses connections
#   s3_proxy_start NAME     start nginx again on the same port
#   s3_server_stop NAME     stop s3rver only: the proxy answers 503 ServiceUnavailable
#   s3_server_start NAME    start s3rver again on the same port and data dir
#   s3_fault_start NAME [faultproxy.js options]  fault proxy in front of the
#                           nginx proxy; exports NAME_FAULT_ENDPOINT (= NAME_FAULT_URL),
#                           NAME_FAULT_LOG; tune with faultproxy_set NAME_FAULT JSON
#   s3_curl NAME KEYID CURL_ARGS...   curl with SigV4 for KEYID (adds -sS and
#                           x-amz-content-sha256: UNSIGNED-PAYLOAD unless
#                           S3_PAYLOAD_SHA256 is set); give the full URL
#   s3_put NAME FILE OBJKEY [KEYID]   upload (signed payload hash); exit 0 on 2xx
#   s3_get NAME OBJKEY OUTFILE [KEYID] download; exit 0 on 2xx
#   s3_rm NAME OBJKEY [KEYID]          delete; exit 0 on 2xx
#   s3_ls NAME [PREFIX] [KEYID]        object keys, one per line (first 1000)
#   s3_object_file NAME OBJKEY         s3rver's file holding the object's bytes
#                           (corrupt it directly for integrity tests)
#   Object keys given to the helpers must be URL-safe ([A-Za-z0-9/._-]).
#
# How the read-only key works: s3rver accepts any key id registered in its
# account registry (tests/node/s3server.js registers both ids) and never
# checks SigV4 signatures.  nginx maps "$request_method:$http_authorization:$args"
# and returns 403 AccessDenied for writes whose Authorization header carries
# Credential=<RO key>/ (SigV4), "AWS <RO key>:" (SigV2) or whose query has
# X-Amz-Credential=<RO key>/ or AWSAccessKeyId=<RO key> (presigned URLs).
# Everything else is proxied unchanged (Host preserved, no buffering,
# unlimited body size, HTTP/1.1 keep-alive upstream).  Unsigned (anonymous)
# requests are passed through and s3rver allows them.

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=fault.sh
. "$T_LIB/fault.sh"

_s3v() { # NAME SUFFIX -> value
    local v="${1}_$2"
    printf '%s' "${!v:-}"
}

s3_start() {
    local name=${1:-}
    [[ -n $name ]] || die_setup "s3_start: missing NAME"
    _t_check_name "$name"
    shift
    local bucket=drplay-backups rw=DRPLAYRWKEY0000000001 ro=DRPLAYROKEY0000000002
    local secret=drplay-test-secret-not-verified
    while (($#)); do
        case $1 in
        --bucket) bucket=$2; shift ;;
        --rw-key) rw=$2; shift ;;
        --ro-key) ro=$2; shift ;;
        --secret) secret=$2; shift ;;
        *) die_setup "s3_start $name: unknown option '$1'" ;;
        esac
        shift
    done
    [[ $rw =~ ^[A-Za-z0-9]+$ && $ro =~ ^[A-Za-z0-9]+$ ]] || die_setup "s3 $name: key ids must be alphanumeric"
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] ||
        die_setup "s3 $name: nginx not found (install nginx-light: make deps)"

    local dir
    dir=$(t_tmpdir "s3-$name") || die_setup "s3 $name: cannot create a temp dir"
    mkdir -p "$dir/data" "$dir/nginx/tmp"
    export "${name}_DIR=$dir" "${name}_DATA_DIR=$dir/data" "${name}_BUCKET=$bucket" \
        "${name}_RW_KEY=$rw" "${name}_RO_KEY=$ro" "${name}_BAD_KEY=DRPLAYBADKEY000000003" \
        "${name}_SECRET=$secret" "${name}_REGION=us-east-1" \
        "${name}_SERVER_LOG=$dir/s3rver.log" "${name}_PROXY_LOG=$dir/nginx/access.log"
    on_exit s3_stop "$name"

    s3_server_start "$name"
    s3_proxy_start "$name"
}

s3_server_start() {
    local name=$1 dir port args=()
    dir=$(_s3v "$name" DIR)
    port=$(_s3v "$name" DIRECT_PORT)
    [[ -n $port ]] && args=(--port "$port") # restart on the same port
    # s3rver encrypts ListObjectsV2 continuation tokens with DES, which the
    # OpenSSL 3 of Node >= 17 only offers through its legacy provider:
    # without it every truncated listing answers 500 InternalError.
    NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--openssl-legacy-provider" _node_helper_start "$name" "s3 server" s3server.js "$dir/s3rver.log" "$dir/s3rver.port" \
        --directory "$dir/data" --bucket "$(_s3v "$name" BUCKET)" \
        --key "$(_s3v "$name" RW_KEY):$(_s3v "$name" SECRET)" \
        --key "$(_s3v "$name" RO_KEY):$(_s3v "$name" SECRET)" "${args[@]}"
    export "${name}_SERVER_PID=$_NODE_PID" "${name}_DIRECT_PORT=$_NODE_PORT" \
        "${name}_DIRECT_ENDPOINT=http://127.0.0.1:$_NODE_PORT"
}

s3_server_stop() {
    local pid
    pid=$(_s3v "$1" SERVER_PID)
    [[ -n $pid ]] || return 0
    stop_pid "$pid" 5
    export "${1}_SERVER_PID="
}

_s3_nginx_conf() { # NAME PORT TOKEN
    local name=$1 port=$2 token=$3 ndir user='' ro xml503 xml403
    ndir=$(_s3v "$name" DIR)/nginx
    ro=$(_s3v "$name" RO_KEY)
    if [[ $EUID -eq 0 ]]; then
        if getent passwd www-data >/dev/null; then user='user www-data www-data;'; else user='user nobody nogroup;'; fi
    fi
    xml403='<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>drplay-nginx</RequestId></Error>\n'
    xml503='<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code><Message>Service Unavailable (upstream s3rver down)</Message><RequestId>drplay-nginx</RequestId></Error>\n'
    cat >"$ndir/nginx.conf" <<EOF
# generated by tests/lib/s3.sh for $name: read-only-key enforcing S3 proxy
$user
daemon off;
master_process on;
worker_processes 1;
pid $ndir/nginx.pid;
error_log $ndir/error.log warn;
events { worker_connections 512; }
http {
    log_format drplay '\$remote_addr [\$time_iso8601] "\$request" \$status \$body_bytes_sent ro_write=\$drplay_ro_write rt=\$request_time';
    access_log $ndir/access.log drplay;
    client_body_temp_path $ndir/tmp/client_body;
    proxy_temp_path $ndir/tmp/proxy;
    fastcgi_temp_path $ndir/tmp/fastcgi;
    uwsgi_temp_path $ndir/tmp/uwsgi;
    scgi_temp_path $ndir/tmp/scgi;
    default_type application/xml;
    server_tokens off;

    # 1 = a write signed with the read-only key id (header SigV4/SigV2 or presigned query)
    map "\$request_method:\$http_authorization:\$args" \$drplay_ro_write {
        default 0;
        "~*^(PUT|POST|DELETE|PATCH):[^:]*Credential=$ro/" 1;
        "~*^(PUT|POST|DELETE|PATCH):AWS $ro:" 1;
        "~*^(PUT|POST|DELETE|PATCH):.*(X-Amz-Credential=$ro(/|%2F)|AWSAccessKeyId=$ro\\b)" 1;
    }

    upstream s3rver_$name {
        server 127.0.0.1:$(_s3v "$name" DIRECT_PORT) max_fails=0;
        keepalive 16;
    }

    server {
        listen 127.0.0.1:$port;
        server_name _;
        client_max_body_size 0;
        client_header_buffer_size 8k;
        large_client_header_buffers 8 64k;
        ignore_invalid_headers off;
        underscores_in_headers on;
        merge_slashes off;

        location / {
            if (\$drplay_ro_write) {
                return 403 '$xml403';
            }
            proxy_pass http://s3rver_$name;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;
            proxy_set_header Connection "";
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_max_temp_file_size 0;
            proxy_connect_timeout 5s;
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
        }
        # answered by nginx itself: proves this nginx (not another listener) owns the port
        location = /__drplay_proxy_id {
            return 200 '$token';
        }
        error_page 502 504 = @upstream_down;
        location @upstream_down {
            return 503 '$xml503';
        }
    }
}
EOF
}

s3_proxy_start() {
    local name=$1 dir ndir port ok=0 fixed=0 pid nginx token
    dir=$(_s3v "$name" DIR)
    ndir=$dir/nginx
    nginx=$(command -v nginx 2>/dev/null || printf '/usr/sbin/nginx')
    port=$(_s3v "$name" PORT)
    [[ -n $port ]] && fixed=1
    for _ in 1 2 3; do
        if ((!fixed)); then
            port=$(free_port) || die_setup "s3 proxy $name: no free port"
        fi
        token="drplay-$name-$$-$RANDOM$RANDOM"
        _s3_nginx_conf "$name" "$port" "$token"
        : >"$ndir/error.log"
        "$nginx" -p "$ndir/" -c "$ndir/nginx.conf" -e "$ndir/error.log" </dev/null >>"$ndir/nginx.out" 2>&1 &
        pid=$!
        t_watch_pid "$pid"
        export "${name}_PROXY_PID=$pid"
        if wait_until 10 _s3_nginx_up "$pid" "$port" "$token" "$ndir/error.log" &&
            kill -0 "$pid" 2>/dev/null && ! grep -q 'Address already in use' "$ndir/error.log" &&
            [[ $(curl -s --max-time 0.5 "http://127.0.0.1:$port/__drplay_proxy_id" 2>/dev/null) == "$token" ]]; then
            ok=1
            break
        fi
        stop_pid "$pid" 2
        grep -q 'Address already in use' "$ndir/error.log" "$ndir/nginx.out" 2>/dev/null || break
        ((fixed)) && break
        printf '# s3 proxy %s: port %s was taken, retrying\n' "$name" "$port" >&2
    done
    if ((!ok)); then
        log_tail "$ndir/error.log" 20
        log_tail "$ndir/nginx.out" 10
        die_setup "s3 proxy $name: nginx did not start on 127.0.0.1:$port (config $ndir/nginx.conf)"
    fi
    export "${name}_PROXY_PID=$pid" "${name}_PORT=$port" "${name}_ENDPOINT=http://127.0.0.1:$port"
}

_s3_nginx_up() { # PID PORT TOKEN ERRLOG: true when nginx died or cannot bind
    # (stop polling; the caller decides) or when it answers with TOKEN
    kill -0 "$1" 2>/dev/null || return 0
    grep -q 'Address already in use' "$4" 2>/dev/null && return 0
    [[ $(curl -s --max-time 0.5 "http://127.0.0.1:$2/__drplay_proxy_id" 2>/dev/null) == "$3" ]]
}

s3_proxy_stop() {
    local pid
    pid=$(_s3v "$1" PROXY_PID)
    [[ -n $pid ]] || return 0
    stop_pid "$pid" 5
    export "${1}_PROXY_PID="
}

s3_stop() {
    faultproxy_stop "${1}_FAULT"
    s3_proxy_stop "$1"
    s3_server_stop "$1"
}

s3_fault_start() { # NAME [faultproxy options]
    local name=$1
    shift
    faultproxy_start "${name}_FAULT" "$(_s3v "$name" ENDPOINT)" "$@"
    export "${name}_FAULT_ENDPOINT=$(_s3v "$name" FAULT_URL)"
}

s3_curl() { # NAME KEYID CURL_ARGS...
    local name=$1 key=$2
    shift 2
    curl -sS --max-time 60 --aws-sigv4 "aws:amz:$(_s3v "$name" REGION):s3" \
        --user "$key:$(_s3v "$name" SECRET)" \
        -H "x-amz-content-sha256: ${S3_PAYLOAD_SHA256:-UNSIGNED-PAYLOAD}" "$@"
}

_s3_url() { # NAME OBJKEY
    printf '%s/%s/%s' "$(_s3v "$1" ENDPOINT)" "$(_s3v "$1" BUCKET)" "${2#/}"
}

_s3_status_ok() { [[ $1 =~ ^2[0-9][0-9]$ ]]; }

s3_put() { # NAME FILE OBJKEY [KEYID]
    local name=$1 file=$2 obj=$3 key=${4:-} sha code
    [[ -n $key ]] || key=$(_s3v "$name" RW_KEY)
    sha=$(sha256sum "$file") || return 1
    code=$(S3_PAYLOAD_SHA256=${sha%% *} s3_curl "$name" "$key" -o /dev/null -w '%{http_code}' \
        -T "$file" "$(_s3_url "$name" "$obj")") || return 1
    _s3_status_ok "$code"
}

s3_get() { # NAME OBJKEY OUTFILE [KEYID]
    local name=$1 obj=$2 out=$3 key=${4:-} code
    [[ -n $key ]] || key=$(_s3v "$name" RW_KEY)
    code=$(s3_curl "$name" "$key" -o "$out" -w '%{http_code}' "$(_s3_url "$name" "$obj")") || return 1
    _s3_status_ok "$code"
}

s3_rm() { # NAME OBJKEY [KEYID]
    local name=$1 obj=$2 key=${3:-} code
    [[ -n $key ]] || key=$(_s3v "$name" RW_KEY)
    code=$(s3_curl "$name" "$key" -o /dev/null -w '%{http_code}' -X DELETE "$(_s3_url "$name" "$obj")") || return 1
    _s3_status_ok "$code"
}

s3_ls() { # NAME [PREFIX] [KEYID]
    local name=$1 prefix=${2:-} key=${3:-} body
    [[ -n $key ]] || key=$(_s3v "$name" RW_KEY)
    body=$(s3_curl "$name" "$key" -f "$(_s3v "$name" ENDPOINT)/$(_s3v "$name" BUCKET)?list-type=2&prefix=$prefix") || return 1
    printf '%s' "$body" | grep -o '<Key>[^<]*</Key>' | sed -e 's/^<Key>//' -e 's/<\/Key>$//'
    return 0
}

s3_object_file() { # NAME OBJKEY
    printf '%s/%s/%s._S3rver_object\n' "$(_s3v "$1" DATA_DIR)" "$(_s3v "$1" BUCKET)" "${2#/}"
}
