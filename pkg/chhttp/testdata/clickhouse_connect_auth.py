"""clickhouse-connect against an endpoint with users. Usage:
clickhouse_connect_auth.py HOST PORT WRITER WRITER_PASSWORD READER READER_PASSWORD
The writer creates and fills a table; the read-only user reads it (with the
client's default session and settings discovery) and is refused writes with
code 164; a wrong password is refused with code 516. Prints OK on success."""
import sys

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError, ProgrammingError
from clickhouse_connect.driver.external import ExternalData

host, port = sys.argv[1], int(sys.argv[2])
writer, writer_password, reader, reader_password = sys.argv[3:7]
db = "cc_auth"


def refused(code, f):
    try:
        f()
    except DatabaseError as e:
        assert f"Code: {code}." in str(e) or f"code: {code}" in str(e).lower(), e
        for secret in (writer_password, reader_password):
            assert secret not in str(e), "a password in the error"
        return
    raise AssertionError(f"not refused (want code {code})")


for user, password in ((writer, "wrong"), ("nobody", writer_password), (reader, writer_password)):
    refused(516, lambda: clickhouse_connect.get_client(host=host, port=port, username=user, password=password))

w = clickhouse_connect.get_client(host=host, port=port, username=writer, password=writer_password)
w.command(f"DROP DATABASE IF EXISTS {db}")
w.command(f"CREATE DATABASE {db}")
w.command(f"CREATE TABLE {db}.t (k String, v Float64) ENGINE = MergeTree ORDER BY k")
w.insert(f"{db}.t", [[f"k{i}", i * 1.5] for i in range(1000)], column_names=["k", "v"])

for compress in (False, "lz4"):
    r = clickhouse_connect.get_client(host=host, port=port, username=reader, password=reader_password,
                                      database=db, compress=compress)
    assert r.command("SELECT getSetting('readonly')") == 1
    assert r.command("SELECT count() FROM t") == 1000
    rows = r.query("SELECT k, v FROM t WHERE k = {k:String}", parameters={"k": "k10"}).result_rows
    assert rows == [("k10", 15.0)], rows
    df_rows = r.query("SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": db}).result_rows
    assert df_rows == [("t",)], df_rows
    # External data still works: the endpoint makes the tables, not the user.
    ext = ExternalData(file_name="keys.csv", data=b"k1\nk2\n", fmt="CSV", structure=["k String"])
    rows = r.query("SELECT count() FROM t WHERE k IN (SELECT k FROM keys)", external_data=ext).result_rows
    assert rows == [(2,)], rows
    refused(164, lambda: r.insert("t", [["x", 1.0]], column_names=["k", "v"]))
    refused(164, lambda: r.command("INSERT INTO t VALUES ('x', 1)"))
    refused(164, lambda: r.command("DROP TABLE t"))
    refused(164, lambda: r.command("CREATE TABLE u (x UInt8) ENGINE = Memory"))
    # The client learns from system.settings that the user may change no
    # setting, and keeps the query from going out.
    try:
        r.query("SELECT 1", settings={"max_threads": 3})
        raise AssertionError("a setting went out for the read-only user")
    except ProgrammingError as e:
        assert "readonly" in str(e), e

assert w.command(f"SELECT count() FROM {db}.t") == 1000
w.command(f"DROP DATABASE {db}")
print("OK")
