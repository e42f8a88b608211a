"""Smoke test of the embedded ClickHouse HTTP endpoint with clickhouse-connect,
the client dbt-clickhouse uses. Usage: clickhouse_connect_smoke.py HOST PORT
Prints OK on success; raises otherwise."""
import datetime
import sys

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError

host, port = sys.argv[1], int(sys.argv[2])

for compress in (False, "lz4", "zstd", "gzip"):
    client = clickhouse_connect.get_client(host=host, port=port, compress=compress)
    db = f"cc_smoke_{compress or 'none'}"
    client.command(f"DROP DATABASE IF EXISTS {db}")
    client.command(f"CREATE DATABASE {db}")
    client.command(
        f"""CREATE TABLE {db}.ping_metrics (
            ping_id String,
            key_path LowCardinality(String),
            value Float64,
            value_string Nullable(String),
            recorded_at DateTime64(3, 'UTC'),
            tags Array(String),
            labels Map(String, String)
        ) ENGINE = ReplacingMergeTree ORDER BY (ping_id, key_path)"""
    )
    at = datetime.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=datetime.timezone.utc)
    rows = [
        [f"p{i:05d}", f"counts.k{i % 7}", i * 0.5, None if i % 2 else f"s{i}", at, ["a", str(i)], {"n": str(i)}]
        for i in range(5000)
    ]
    client.insert(f"{db}.ping_metrics", rows,
                  column_names=["ping_id", "key_path", "value", "value_string", "recorded_at", "tags", "labels"])

    assert client.command(f"SELECT count() FROM {db}.ping_metrics") == 5000
    result = client.query(
        f"SELECT ping_id, key_path, value, value_string, recorded_at, tags, labels "
        f"FROM {db}.ping_metrics WHERE ping_id = {{p:String}}",
        parameters={"p": "p00042"},
    )
    (row,) = result.result_rows
    assert row[0] == "p00042" and row[1] == "counts.k0" and row[2] == 21.0 and row[3] == "s42", row
    assert row[4].replace(tzinfo=datetime.timezone.utc) == at, row[4]
    assert row[5] == ["a", "42"] and row[6] == {"n": "42"}, row

    # What dbt-clickhouse asks of the catalog.
    tables = client.query(
        "SELECT name, engine FROM system.tables WHERE database = {db:String}", parameters={"db": db}
    ).result_rows
    assert tables == [("ping_metrics", "ReplacingMergeTree")], tables
    cols = client.query(f"DESCRIBE TABLE {db}.ping_metrics").result_rows
    assert len(cols) == 7, cols
    assert client.query("SELECT engine FROM system.databases WHERE name = {db:String}",
                        parameters={"db": db}).result_rows == [("Atomic",)]

    # Raw formats and errors.
    raw = client.raw_query(f"SELECT count() AS c FROM {db}.ping_metrics FORMAT JSONEachRow")
    assert raw.strip() == b'{"c":5000}', raw
    try:
        client.query("SELECT * FROM no_such_table_anywhere")
        raise AssertionError("query on a missing table succeeded")
    except DatabaseError as ex:
        assert "Code: 60" in str(ex), ex
    client.command(f"DROP DATABASE {db}")
    client.close()

print("OK")
