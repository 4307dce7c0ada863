#!/usr/bin/env bash
# http_actions.sh: http.check and notify against a real HTTP application and
# webhook on loopback (tests/node/websim.js).
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$T_LIB/web.sh"
require_drplay
PB=$ROOT/tests/integration/playbooks/http
web_start WEB
J=$(t_tmpdir journal) || die_setup "no temp dir"
run() { "$DRPLAY" run --journal-dir "$J" "$@"; }

t_exit "smoke: homepage 200, login redirect, webhook" 0 run "$PB/smoke.yaml" --param app="$WEB_URL" --param hook="$WEB_URL/hook"
t_contains "smoke: the redirect is shown" "$T_OUT" "-> 302 -> $WEB_URL/login?next=/account"
hook=$(tail -n1 "$WEB_HOOK_LOG")
t_contains "notify: the webhook got a Slack-style text" "$hook" '\"text\":\"[drplay validation'
t_contains "notify: ... with the milestone" "$hook" 'verified'
t_contains "notify: ... as JSON" "$hook" '"content-type":"application/json"'

t_exit "http.check: wrong status fails the step" 4 run "$PB/failing.yaml" --param url="$WEB_URL/nope"
t_contains "http.check: ... naming the URL, the status and the expectation" "$T_OUT" "$WEB_URL/nope answered 404, expected 200"
t_exit "http.check: body pattern mismatch" 4 run "$PB/failing.yaml" --param url="$WEB_URL/" --param body="Goodbye"
t_contains "http.check: ... says it does not match" "$T_OUT" "does not match /Goodbye/"
t_exit "http.check: wrong redirect" 4 run "$PB/failing.yaml" --param url="$WEB_URL/account" --param redirect=/signup
t_contains "http.check: ... names both targets" "$T_OUT" "redirects to $WEB_URL/login?next=/account, expected /signup"
t_exit "http.check: no redirect where one is expected" 4 run "$PB/failing.yaml" --param url="$WEB_URL/" --param redirect=/login
t_contains "http.check: ... says so" "$T_OUT" "not a redirect"
t_exit "http.check: timeout" 4 run "$PB/failing.yaml" --param url="$WEB_URL/slow" --param timeout=300ms
t_contains "http.check: ... reports the timeout" "$T_OUT" "timed out"
port=$(free_port)
t_exit "http.check: unreachable service" 4 run "$PB/failing.yaml" --param url="http://127.0.0.1:$port/"
t_contains "http.check: ... says what to check" "$T_OUT" "check that the service is up"

t_exit "notify: a failing webhook does not fail the run" 0 run "$PB/notify_fail.yaml" --param hook="$WEB_URL/hook-fail"
t_contains "notify: ... but says it was not delivered" "$T_OUT" "not delivered (the webhook answered 500)"
jf=$(ls -t "$J"/*.jsonl | head -n1)
t_contains "notify: ... and the journal records it" "$(cat "$jf")" '"event":"notify_failed"'
t_exit "notify: an unreachable webhook does not fail the run" 0 run "$PB/notify_fail.yaml" --param hook="http://127.0.0.1:$port/hook"
