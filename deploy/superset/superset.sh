#!/usr/bin/env bash
# Apache Superset with the serviceping dashboards, against the warehouse of
# CLICKHOUSE_URL — what `make superset` does. Usage:
#
#   deploy/superset/superset.sh [serve]     provision, then run Superset in the foreground
#   deploy/superset/superset.sh provision   provision only (install, metadata DB, admin, import)
#
#   CLICKHOUSE_URL          http(s)://[user[:password]@]host[:port][/database]
#                           default http://127.0.0.1:8123/serviceping (the
#                           all-in-one's embedded endpoint); the marts must be
#                           built there (make dbt, schema serviceping_analytics)
#   SUPERSET_LISTEN         default 127.0.0.1:8088
#   SUPERSET_ADMIN_USER     default admin
#   SUPERSET_ADMIN_PASSWORD default admin — accepted only on a loopback
#                           SUPERSET_LISTEN; set your own anywhere else
#   SUPERSET_DATA_DIR       metadata DB, secret key and logs
#                           (default ~/.cache/serviceping/superset/data)
#   SUPERSET_SECRET_KEY     default: generated once into the data directory
#
# Superset itself is a virtualenv in ~/.cache/serviceping/superset, built
# once per hash of deploy/superset/requirements.txt (about a minute; the
# compose file's image, deploy/superset/Dockerfile, builds it in advance). The
# dashboards, charts, datasets and the database connection are the YAML
# bundle in deploy/superset/bundle, imported with `superset
# import-dashboards` on every start: objects are matched by their uuid, so
# a second start leaves the same dashboards (overwritten, never doubled).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${SERVICEPING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/serviceping}
mode=${1:-serve}
case $mode in serve | provision) ;; *) echo "usage: $0 [serve|provision]" >&2; exit 2 ;; esac

listen=${SUPERSET_LISTEN:-127.0.0.1:8088}
host=${listen%:*}
port=${listen##*:}
admin=${SUPERSET_ADMIN_USER:-admin}
password=${SUPERSET_ADMIN_PASSWORD:-admin}
data=${SUPERSET_DATA_DIR:-$CACHE/superset/data}
log() { echo "superset: $*" >&2; }
die() { log "$*"; exit 1; }

case $host in
127.* | localhost | '[::1]') ;;
*) [ -n "${SUPERSET_ADMIN_PASSWORD:-}" ] && [ "$password" != admin ] ||
	die "SUPERSET_LISTEN=$listen is not a loopback address: set SUPERSET_ADMIN_PASSWORD (the default admin password is for 127.0.0.1 only)" ;;
esac
[[ $port =~ ^[0-9]+$ ]] || die "SUPERSET_LISTEN=$listen: want HOST:PORT"

# The port first: a second `make superset` beside a running one must not
# touch the metadata the first one serves.
if [ "$mode" = serve ]; then
	python3 - "${host#[}" "$port" <<-'PY' || die "$listen is already in use (another Superset, or another program): stop it, or set SUPERSET_LISTEN to a free address"
	import socket, sys
	host, port = sys.argv[1].rstrip("]"), int(sys.argv[2])
	s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
	try:
	    s.bind((host, port))
	except OSError:
	    sys.exit(1)
	PY
fi

# ------------------------------------------------------------- virtualenv
req=$REPO/deploy/superset/requirements.txt
venv=$CACHE/superset/venv/$(sha256sum "$req" | cut -c1-12)
if [ ! -x "$venv/bin/superset" ] || [ ! -f "$venv/.complete" ]; then
	log "creating the Superset virtualenv in $venv (once, about a minute)"
	rm -rf "$venv"
	python3 -m venv "$venv" >&2
	"$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
	touch "$venv/.complete"
fi

mkdir -p "$data"
chmod 700 "$data"
if [ -z "${SUPERSET_SECRET_KEY:-}" ]; then
	[ -s "$data/secret_key" ] || (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(48))' >"$data/secret_key")
	SUPERSET_SECRET_KEY=$(cat "$data/secret_key")
fi
export SUPERSET_SECRET_KEY SUPERSET_DATA_DIR=$data
export SUPERSET_CONFIG_PATH=$REPO/deploy/superset/superset_config.py
export FLASK_APP=superset SUPERSET_LOG_LEVEL=${SUPERSET_LOG_LEVEL:-warning}
py=$venv/bin/python
provision=$REPO/deploy/superset/provision.py

# The warehouse before anything is written: a clear line when it is down
# or has no marts.
"$py" "$provision" check

# quiet runs a superset command with its output in the log, shown only
# when it fails.
run_log=$data/provision.log
: >"$run_log"
quiet() {
	if ! "$venv/bin/superset" "$@" >>"$run_log" 2>&1; then
		tail -n 40 "$run_log" >&2
		die "superset $1 failed (whole log: $run_log)"
	fi
}

log "metadata database $data/superset.db"
quiet db upgrade
version=$("$py" -c 'import importlib.metadata as m; print(m.version("apache-superset"))')
if [ ! -f "$data/.init-$version" ]; then
	quiet init
	touch "$data/.init-$version"
fi
# The admin from the variables: created, or its password reset to
# SUPERSET_ADMIN_PASSWORD when it exists.
if "$venv/bin/superset" fab list-users 2>>"$run_log" | grep -q "username:$admin |"; then
	quiet fab reset-password --username "$admin" --password "$password"
else
	quiet fab create-admin --username "$admin" --firstname serviceping --lastname admin \
		--email "$admin@localhost" --password "$password"
fi

bundle=$data/bundle.zip
(umask 077 && "$py" "$provision" bundle "$bundle")
quiet import-dashboards --path "$bundle" --username "$admin"
rm -f "$bundle"
log "imported deploy/superset/bundle ($(find "$REPO/deploy/superset/bundle/dashboards" -name '*.yaml' | wc -l) dashboards)"

[ "$mode" = serve ] || exit 0
log "serving http://$listen/ (user $admin); dashboards at http://$listen/dashboard/list/"
exec "$venv/bin/gunicorn" --bind "$listen" --workers 1 --threads 8 --timeout 120 \
	--access-logfile - --error-logfile - --log-level warning "superset.app:create_app()"
