#!/usr/bin/env bash
# The service on its embedded defaults plus a small simulated fleet with a mix of faults; after about
# 45 s it prints every tracker's self-check verdict. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TELEDIAG_DATA_DIR:-var}
FLEET=(--mix teltonika-tcp=16 --seed 7
       --faults power_cut:1,battery_drain:1,rtc_reset:1,backlog:1,weak_signal:1,gps_antenna:1,gps_poor:1,protocol_garbage:1,wrong_apn:1,activation_pending:1,no_data_after_activation:1)
mkdir -p "$DATA"
rm -f "$DATA/listening.json"
.venv/bin/telediag serve --data-dir "$DATA" &
server=$!
sim=
trap '[ -n "$sim" ] && kill -TERM $sim 2>/dev/null; kill -TERM $server 2>/dev/null; wait' EXIT
for _ in $(seq 100); do [ -f "$DATA/listening.json" ] && break; sleep 0.1; done
.venv/bin/telediag-sim "${FLEET[@]}" --registry-only --registry-csv "$DATA/demo-fleet.csv"
.venv/bin/telediag devices import "$DATA/demo-fleet.csv" --data-dir "$DATA"
token=$(.venv/bin/telediag tokens create --role technical --label demo --data-dir "$DATA")
api=$(.venv/bin/python -c "import json,sys; print(next(l['port'] for l in json.load(open(sys.argv[1]))['listeners'] if l['protocol'] == 'http-api'))" "$DATA/listening.json")
# the token goes in the environment, never on a command line where ps shows it to every user
TELEDIAG_TOKEN="$token" .venv/bin/telediag-sim "${FLEET[@]}" --interval 2 --duration 3600 --progress-every 60 \
    --api "http://127.0.0.1:$api" --connectivity-log "$DATA/demo-events.jsonl" &
sim=$!
echo "demo: 16 trackers (11 with a fault) reporting every 2 s; API on http://127.0.0.1:$api (token: $token)"
account=$(sed -n 2p "$DATA/demo-fleet.csv" | cut -d, -f3)
echo "demo: console on http://127.0.0.1:$api/login; one user per role (passwords made for this run):"
for role in customer customer_office technical it admin; do
    user="demo-${role//_/-}"
    password=$(.venv/bin/python -c "import secrets; print(secrets.token_urlsafe(12))")
    extra=()
    [ "$role" = customer ] && extra=(--account "$account")
    # the password goes in on stdin (a shell builtin), never on a command line
    # a user left by an earlier run of the demo gets a new password (printed again)
    if printf '%s\n' "$password" | .venv/bin/telediag users create --role "$role" "${extra[@]}" "$user" \
            --data-dir "$DATA" >/dev/null 2>&1 \
       || printf '%s\n' "$password" | .venv/bin/telediag users password "$user" --data-dir "$DATA" >/dev/null; then
        echo "  $user  $password  ($role${extra[1]:+ of $account})"
    fi
done
sleep 45
echo "demo: self-check of every tracker (details: .venv/bin/telediag selfcheck IMEI --data-dir $DATA)"
for imei in $(tail -n +2 "$DATA/demo-fleet.csv" | cut -d, -f1); do
    .venv/bin/telediag selfcheck "$imei" --data-dir "$DATA" --json | .venv/bin/python -c "
import json, sys
r = json.load(sys.stdin)
bad = [c['finding'] or c['id'] for c in r['checks'] if c['status'] in ('warn', 'fail')]
print(f\"  {r['imei']}: {r['overall']:<9} {', '.join(bad)}\")"
done
echo "demo: tickets opened automatically (more: .venv/bin/telediag tickets show ID --data-dir $DATA)"
.venv/bin/telediag tickets list --data-dir "$DATA"
wait $sim
