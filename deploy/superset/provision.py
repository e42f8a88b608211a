"""Warehouse check and bundle for superset.sh (`make superset`).

Run with the Superset virtualenv's Python:

    provision.py check                 the warehouse of CLICKHOUSE_URL answers and has the marts
    provision.py bundle OUT.zip        deploy/superset/bundle as an import ZIP, its database
                                       connection set to CLICKHOUSE_URL

Exit status 1 with one line on stderr saying what is wrong and what to do.
"""
import os
import sys
import urllib.parse
import zipfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "bundle"
DEFAULT_URL = "http://127.0.0.1:8123/serviceping"
MARTS_SCHEMA = "serviceping_analytics"


def fail(msg):
    print(f"superset: {msg}", file=sys.stderr)
    sys.exit(1)


def warehouse():
    """CLICKHOUSE_URL's parts: (url shown without password, scheme, host, port, user, password, database)."""
    raw = os.environ.get("CLICKHOUSE_URL") or DEFAULT_URL
    u = urllib.parse.urlsplit(raw)
    if u.scheme not in ("http", "https") or not u.hostname:
        fail(f"CLICKHOUSE_URL={raw}: want http(s)://[user[:password]@]host[:port][/database] (ClickHouse's HTTP interface)")
    port = u.port or (8443 if u.scheme == "https" else 8123)
    user = urllib.parse.unquote(u.username or "default")
    password = urllib.parse.unquote(u.password or "")
    database = u.path.strip("/") or "serviceping"
    shown = f"{u.scheme}://{u.hostname}:{port}/{database}"
    return shown, u.scheme, u.hostname, port, user, password, database


def datasets():
    """The bundle's datasets: (schema, table) of each."""
    out = []
    for f in sorted((BUNDLE / "datasets").rglob("*.yaml")):
        d = yaml.safe_load(f.read_text())
        out.append((d["schema"], d["table_name"]))
    return out


def check():
    import logging

    import clickhouse_connect

    # The client logs each failed attempt itself; the one line below says it all.
    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    shown, scheme, host, port, user, password, database = warehouse()
    try:
        # No database in the connection: a missing one is reported below
        # as missing tables, not as a failure to connect.
        client = clickhouse_connect.get_client(
            host=host, port=port, username=user, password=password,
            secure=scheme == "https", connect_timeout=5, send_receive_timeout=30,
        )
        rows = client.query(
            "SELECT database, name FROM system.tables WHERE database IN ({a:String}, {b:String})",
            parameters={"a": database, "b": MARTS_SCHEMA},
        ).result_rows
    except Exception as e:  # the client raises many kinds; the message is what matters
        fail(f"the warehouse at {shown} does not answer ({_reason(e)}): start it (make run) or set CLICKHOUSE_URL")
    have = {(db, name) for db, name in rows}
    missing = [f"{_schema(s, database)}.{t}" for s, t in datasets() if (_schema(s, database), t) not in have]
    if missing:
        fail(f"the warehouse at {shown} lacks {', '.join(missing)}: load pings there (make run) and build "
             f"the marts (make dbt with CLICKHOUSE_URL={shown}), or point CLICKHOUSE_URL at the warehouse that has them")
    print(f"superset: warehouse {shown} has the {len(datasets())} tables the dashboards read", file=sys.stderr)


def _reason(e):
    """The gist of a connection failure, without the client's retry chatter."""
    text = str(e)
    for gist in ("Connection refused", "timed out", "Name or service not known", "Authentication failed",
                 "AUTHENTICATION_FAILED", "certificate verify failed"):
        if gist in text:
            return gist.lower() if gist[0].isupper() and " " in gist else gist
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return first[:200]


def _schema(schema, database):
    """A dataset's schema on this warehouse: the loader's tables live in the URL's database."""
    return database if schema == "serviceping" else schema


def sqlalchemy_uri():
    _, scheme, host, port, user, password, database = warehouse()
    auth = urllib.parse.quote(user, safe="")
    if password:
        auth += ":" + urllib.parse.quote(password, safe="")
    uri = f"clickhousedb://{auth}@{host}:{port}/{database}"
    return uri + ("?secure=true" if scheme == "https" else "")


def bundle(out):
    database = warehouse()[6]
    with zipfile.ZipFile(out, "w") as z:
        for f in sorted(BUNDLE.rglob("*.yaml")):
            rel = f.relative_to(BUNDLE).as_posix()
            text = f.read_text()
            if rel.startswith("databases/"):
                d = yaml.safe_load(text)
                d["sqlalchemy_uri"] = sqlalchemy_uri()
                text = yaml.safe_dump(d, sort_keys=False)
            elif rel.startswith("datasets/"):
                d = yaml.safe_load(text)
                d["schema"] = _schema(d["schema"], database)
                text = yaml.safe_dump(d, sort_keys=False, allow_unicode=True)
            z.writestr(f"serviceping/{rel}", text)


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "check":
        check()
    elif len(sys.argv) == 3 and sys.argv[1] == "bundle":
        bundle(sys.argv[2])
    else:
        fail(f"usage: {sys.argv[0]} check | bundle OUT.zip")
