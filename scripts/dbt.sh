#!/usr/bin/env bash
# Runs dbt on the repository's project (dbt/) against the ClickHouse of
# CLICKHOUSE_URL — what `make dbt` does. Usage:
#
#   scripts/dbt.sh [DBT_COMMAND [ARGS…]]      (default: build)
#
#   CLICKHOUSE_URL  http(s)://[user[:password]@]host[:port][/database]
#                   default http://127.0.0.1:8123/serviceping (the all-in-one's
#                   embedded endpoint). Its database holds the loader's tables
#                   (the dbt sources); the models are built in
#                   DBT_CLICKHOUSE_SCHEMA (default serviceping_analytics).
#   DBT_VARS        passed as --vars, e.g. '{fleet_fixture: true}'
#   DBT_TARGET_PATH, DBT_LOG_PATH   dbt's own: where target/ and logs/ go
#                   (default dbt/target, dbt/logs)
#
# The URL's parts become the DBT_CLICKHOUSE_* variables dbt/profiles.yml
# reads (an explicitly set DBT_CLICKHOUSE_* variable is left alone, except
# host, port, database, user, password and secure, which the URL decides).
# dbt itself is the cached virtualenv that scripts/test-env.sh builds from
# dbt/requirements.txt (built once, minutes, when missing).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
url=${CLICKHOUSE_URL:-http://127.0.0.1:8123/serviceping}

re='^(https?)://(([^:@/]*)(:([^@/]*))?@)?([^:/?#]+|\[[^]]+\])(:([0-9]+))?(/([^/?#]*))?/?([?#].*)?$'
if [[ ! $url =~ $re ]]; then
	echo "dbt.sh: CLICKHOUSE_URL=$url: want http(s)://[user[:password]@]host[:port][/database] (dbt talks ClickHouse's HTTP protocol)" >&2
	exit 2
fi
scheme=${BASH_REMATCH[1]}
user=${BASH_REMATCH[3]}
password=${BASH_REMATCH[5]}
host=${BASH_REMATCH[6]}
port=${BASH_REMATCH[8]}
database=${BASH_REMATCH[10]:-serviceping}
host=${host#[}
host=${host%]}
if [ "$scheme" = https ]; then secure=true; port=${port:-8443}; else secure=false; port=${port:-8123}; fi
# Percent-decoded user and password (a URL carries them encoded).
urldecode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }

export DBT_CLICKHOUSE_HOST=$host
export DBT_CLICKHOUSE_PORT=$port
export DBT_CLICKHOUSE_SECURE=$secure
export DBT_CLICKHOUSE_SOURCE_DATABASE=$database
export DBT_CLICKHOUSE_USER=$(urldecode "${user:-default}")
export DBT_CLICKHOUSE_PASSWORD=$(urldecode "$password")
export DBT_SEND_ANONYMOUS_USAGE_STATS=false

eval "$("$REPO/scripts/test-env.sh" python)"

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(build)
if [ -n "${DBT_VARS:-}" ]; then args+=(--vars "$DBT_VARS"); fi

echo "dbt.sh: dbt ${args[*]} on ${scheme}://${host}:${port} (sources in ${database}, models in ${DBT_CLICKHOUSE_SCHEMA:-serviceping_analytics})" >&2
cd "$REPO/dbt"
exec "$SERVICEPING_DBT" "${args[@]}" --project-dir "$REPO/dbt" --profiles-dir "$REPO/dbt"
