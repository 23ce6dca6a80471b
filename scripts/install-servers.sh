#!/usr/bin/env bash
# Real servers the integration tests talk to on 127.0.0.1 (each test starts and stops its own):
# Mosquitto (MQTT), VictoriaMetrics (accepts the InfluxDB v2 write API) and PostgreSQL 15 (the
# PostgreSQL store; tests/postgres_server.py runs its binaries as the package's `postgres` user in a
# temporary folder, never the package's own cluster). Debian packages.
set -euo pipefail
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v victoria-metrics >/dev/null 2>&1 || missing+=(victoria-metrics)
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-servers: need root to apt-get install ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# HAProxy: tests/docker/test_scale_profile.py checks docker/haproxy/haproxy.cfg with `haproxy -c`
# (the test only runs that check; the package's own configuration listens on no port).
if ! command -v haproxy >/dev/null 2>&1 && ! [ -x /usr/sbin/haproxy ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-servers: need root to apt-get install haproxy" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends haproxy >/dev/null
fi
