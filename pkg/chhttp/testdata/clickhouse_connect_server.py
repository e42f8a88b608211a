"""clickhouse-connect against the endpoint's server behaviour: one statement
per request, sessions, time zones, streamed results and errors in the middle
of them, external tables. Usage: clickhouse_connect_server.py HOST PORT
Prints OK on success; raises otherwise."""
import datetime
import os
import subprocess
import sys
import threading
import time
import uuid

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.external import ExternalData

host, port = sys.argv[1], int(sys.argv[2])


def fails(fn, *wanted):
    try:
        fn()
    except DatabaseError as ex:
        text = str(ex)
        assert all(w in text for w in wanted), (wanted, text)
        return
    raise AssertionError(f"no error, wanted {wanted}")


# clickhouse-connect opens a session per client unless told otherwise.
a = clickhouse_connect.get_client(host=host, port=port)
b = clickhouse_connect.get_client(host=host, port=port)
none = clickhouse_connect.get_client(host=host, port=port, autogenerate_session_id=False)

# One statement per request.
fails(lambda: a.command("SELECT 1; SELECT 2"), "Code: 62", "Multi-statements are not allowed")
assert a.command("SELECT 3;") == 3

# Sessions: SET and temporary tables stay in theirs.
default_block = none.command("SELECT getSetting('max_block_size')")
a.command("SET max_block_size = 1234")
assert a.command("SELECT getSetting('max_block_size')") == 1234
assert b.command("SELECT getSetting('max_block_size')") == default_block
assert none.command("SELECT getSetting('max_block_size')") == default_block
none.command("SET max_block_size = 4321")
assert none.command("SELECT getSetting('max_block_size')") == default_block
a.command("CREATE TEMPORARY TABLE tmp (x UInt8)")
a.command("INSERT INTO tmp VALUES (3)")
assert a.command("SELECT sum(x) FROM tmp") == 3
fails(lambda: b.command("SELECT sum(x) FROM tmp"), "Code: 60")
fails(lambda: none.command("CREATE TEMPORARY TABLE tmp2 (x UInt8)"), "Code: 113")

# Time zones survive Native (query) and RowBinaryWithNamesAndTypes.
db = f"cc_server_{uuid.uuid4().hex[:8]}"
a.command(f"CREATE DATABASE {db}")
a.command(f"""CREATE TABLE {db}.events (
    id UInt32, at DateTime('Europe/Moscow'), at64 DateTime64(3, 'Asia/Tokyo')
) ENGINE = MergeTree ORDER BY id""")
at = datetime.datetime(2024, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)
a.insert(f"{db}.events", [[1, at, at]], column_names=["id", "at", "at64"])
row = a.query(f"SELECT at, at64, toDateTime('2024-01-02 03:04:05', 'Europe/Moscow') FROM {db}.events").result_rows[0]
assert row[0] == at and str(row[0].tzinfo) == "Europe/Moscow", row
assert row[1] == at and str(row[1].tzinfo) == "Asia/Tokyo", row
assert row[2] == datetime.datetime(2024, 1, 2, 0, 4, 5, tzinfo=datetime.timezone.utc) and str(row[2].tzinfo) == "Europe/Moscow", row
raw = a.raw_query(f"SELECT at FROM {db}.events FORMAT RowBinaryWithNamesAndTypes")
assert b"DateTime('Europe/Moscow')" in raw, raw
a.command(f"DROP DATABASE {db}")

# Native at the client's revision: clickhouse-connect's probe finds block
# info at revision 54405, so a top-level DateTime keeps its zone; raw Native
# without client_protocol_version is ClickHouse's revision 0 (no zone), and
# at 54337 it has block info and the zone (clickhouse-connect's own
# test_protocol_version).
assert a.protocol_version == 54405, a.protocol_version
row = a.query("SELECT toDateTime('2022-10-25 10:55:22', 'America/Chicago'), toDateTime('2023-07-05 15:10:40')").first_row
assert str(row[0].tzinfo) == "America/Chicago" and row[1].tzinfo is None, row
shanghai = "SELECT toDateTime(1676369730, 'Asia/Shanghai') AS dt FORMAT Native"
assert a.raw_query(shanghai).hex() == "0101026474084461746554696d65425feb63"
assert a.raw_query(shanghai, settings={"client_protocol_version": 54337})[14:39] == b"DateTime('Asia/Shanghai')"

# Many blocks of Dynamic, Variant, JSON and LowCardinality at revision 54405.
result = none.query("""SELECT number, toLowCardinality(toString(number % 7)) AS lc,
    if(number % 2 = 0, CAST(number, 'Dynamic'), CAST(concat('s', toString(number)), 'Dynamic')) AS dyn,
    if(number % 3 = 0, CAST(concat('s', toString(number)), 'Variant(String, UInt64)'), CAST(number, 'Variant(String, UInt64)')) AS var,
    CAST(concat('{"n": ', toString(number), ', "s": "x"}'), 'JSON(s String)') AS js
    FROM numbers(20000) ORDER BY number SETTINGS max_block_size = 1000""")
assert len(result.result_rows) == 20000
for n, lc, dyn, var, js in result.result_rows:
    assert lc == str(n % 7) and dyn == (n if n % 2 == 0 else f"s{n}") and var == (f"s{n}" if n % 3 == 0 else n), (n, lc, dyn, var)
    assert js == {"n": n, "s": "x"}, (n, js)

# Large results stream; an error in the middle of one reaches the client.
total = 0
with none.query_row_block_stream("SELECT number FROM numbers(3000000)") as stream:
    for block in stream:
        total += len(block)
assert total == 3000000, total
failing = "SELECT number, throwIf(number = 1500000, 'boom in the middle') FROM numbers(3000000)"
fails(lambda: none.query(failing), "boom in the middle")


def read_stream():
    with none.query_row_block_stream(failing) as stream:
        for _ in stream:
            pass


fails(read_stream, "boom in the middle")

# A client that reads one block of a 100-million-row result and goes away
# (a clickhouse-connect stream closed normally reads the rest first, so the
# client is a process that exits) stops the statement within a second; the
# endpoint's process (this script's parent, the Go test) grows by less than
# 256 MiB meanwhile.
def rss(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


server = os.getppid()
base = peak = rss(server)
sampling = threading.Event()


def sample():
    global peak
    while not sampling.is_set():
        peak = max(peak, rss(server))
        time.sleep(0.005)


sampler = threading.Thread(target=sample)
sampler.start()
gone = subprocess.run([sys.executable, "-c", f"""
import os, clickhouse_connect
c = clickhouse_connect.get_client(host={host!r}, port={port}, autogenerate_session_id=False)
with c.query_row_block_stream("SELECT number AS hangup_cc FROM numbers(100000000)") as stream:
    for block in stream:
        print(len(block), flush=True)
        os._exit(0)
"""], capture_output=True, text=True, timeout=60)
hung_up = time.monotonic()
assert gone.returncode == 0 and int(gone.stdout) > 0, gone
running = "SELECT count() FROM system.processes WHERE position(query, 'hangup_cc') > 0 AND position(query, 'system.processes') = 0"
while none.command(running) != 0:
    assert time.monotonic() - hung_up < 1, "the statement still runs a second after the client went away"
stopped = time.monotonic() - hung_up
sampling.set()
sampler.join()
print(f"hang-up: statement stopped {stopped * 1000:.0f} ms after the client went away; the endpoint grew by {(peak - base) >> 20} MiB")
assert peak - base < 256 << 20, f"the endpoint grew by {(peak - base) >> 20} MiB"
assert none.command("SELECT 'still here'") == "still here"

# External tables: with and without a session, and gone afterwards.
ext = ExternalData(file_name="ext.csv", data=b"1\n2\n", fmt="CSV", structure=["x UInt32"])
ext.add_file(file_name="names.tsv", data=b"1\tone\n2\ttwo\n", types="UInt32,String")
for c in (none, a):
    rows = c.query("SELECT x, _2 FROM ext JOIN names ON x = _1 ORDER BY x", external_data=ext).result_rows
    assert rows == [(1, "one"), (2, "two")], rows
assert a.command("SELECT count() FROM system.tables WHERE is_temporary AND name IN ('ext', 'names')") == 0

for c in (a, b, none):
    c.close()
print("OK")
