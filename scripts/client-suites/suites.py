#!/usr/bin/env python3
"""Runs the ClickHouse clients' own test suites against the endpoint and
reports them; scripts/client-suites.sh calls it (see that script).

  suites.py go-run TESTDIR TESTBIN OUTDIR   clickhouse-go's tests package
  suites.py py-report JUNIT OUTDIR          clickhouse-connect's pytest run

go-run selects the tests of clickhouse-go's `tests` package that talk HTTP:
those that run once per protocol (TestProtocols: their HTTP subtest only) and
those that open an HTTP connection themselves (clickhouse.HTTP,
GetConnectionHTTP). Tests that only speak the native TCP protocol are not run.
Each selected test runs in a process of its own, bounded by --timeout, so a
hang or a panic costs one test, not the suite.

Both commands print one line `<suite>: N passed, N failed, N skipped` (also
written to OUTDIR/summary.txt) and write OUTDIR/failures.txt: one failed test a line, a tab, its first error
line. A test counts once, and so does each of its subtests.
"""

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

TIMEOUT = int(os.environ.get("CLIENT_SUITES_TEST_TIMEOUT", "120"))

FUNC = re.compile(r"^func (Test\w+)\(t \*testing\.T\) \{$")
HTTP_USE = re.compile(r"clickhouse\.HTTP\b|GetConnectionHTTP\(")


def go_select(testdir):
    """The top-level tests to run, and whether each runs per protocol."""
    tests = {}
    for name in sorted(os.listdir(testdir)):
        if not name.endswith("_test.go"):
            continue
        current, body = None, []
        with open(os.path.join(testdir, name), encoding="utf-8") as f:
            for line in f:
                m = FUNC.match(line.rstrip("\n"))
                if m:
                    current, body = m.group(1), []
                    continue
                if current is None:
                    continue
                if line.startswith("}"):
                    text = "".join(body)
                    if "TestProtocols(" in text:
                        tests[current] = True
                    elif HTTP_USE.search(text):
                        tests[current] = False
                    current = None
                    continue
                body.append(line)
    return tests


# Lines in a failed test's output that are not its error.
NOISE = re.compile(r"^\s*(=== |--- |Error Trace:|\S+\.go:\d+: *$|/\S+\.go:\d+|Test:|Messages:)")


def first_error(lines):
    """The first line of a failed test's output that says what went wrong."""
    for i, line in enumerate(lines):
        s = line.strip()
        if not s or NOISE.match(line):
            continue
        if s.startswith("Error:"):
            rest = s[len("Error:"):].strip()
            # testify prints the message on the lines after "Error:".
            if rest in ("", "Received unexpected error:", "Not equal:", "Should be true", "Should be false"):
                for nxt in lines[i + 1:i + 4]:
                    n = nxt.strip()
                    if n and not NOISE.match(nxt):
                        return (rest + " " + n).strip()
            return rest
        if s.startswith("panic:"):
            return s
        return s
    return "(no output)"


def go_run(testdir, testbin, outdir):
    selected = go_select(testdir)
    results = {}  # test path -> (action, output lines)
    for name, per_protocol in selected.items():
        args = [testbin, "-test.v=test2json", "-test.run", "^%s$" % name, "-test.timeout", "%ds" % TIMEOUT]
        if per_protocol:
            args += ["-test.skip", "^%s$/^Native$" % name]
        proc = subprocess.run(["go", "tool", "test2json", "-t"] + args, cwd=testdir,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with open(os.path.join(outdir, "clickhouse-go.json"), "a", encoding="utf-8") as log:
            log.write(proc.stdout)
        out = {}
        for line in proc.stdout.splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            test = ev.get("Test")
            if not test:
                if ev["Action"] == "output":
                    out.setdefault("", []).append(ev["Output"])
                continue
            if ev["Action"] == "output":
                out.setdefault(test, []).append(ev["Output"])
            elif ev["Action"] in ("pass", "fail", "skip"):
                results[test] = (ev["Action"], out.get(test, []))
        unit = name + "/HTTP" if per_protocol else name
        if unit in results:
            continue
        if name in results:
            # Ended before its HTTP subtest: skipped, or failed, as a whole.
            results[unit] = results[name]
        else:
            # Killed by the timeout, or a crash (of the test, or of the
            # suite's setup when the server is gone) before it reported.
            results[unit] = ("fail", out.get(name) or out.get("", []))
    counted = {}
    for test, res in results.items():
        top = test.split("/")[0]
        per_protocol = selected.get(top)
        if per_protocol is None:
            continue
        # Per-protocol tests count from their HTTP subtest down.
        if per_protocol and (test == top or test.split("/")[1] != "HTTP"):
            continue
        counted[test] = res
    return report("clickhouse-go", counted, outdir)


def py_report(junit, outdir):
    counted = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = "%s::%s" % (case.get("classname", ""), case.get("name", ""))
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            msg = failure.get("message") or failure.text or ""
            counted[name] = ("fail", [msg.strip().splitlines()[0] if msg.strip() else "(no message)"])
        elif case.find("skipped") is not None:
            counted[name] = ("skip", [])
        else:
            counted[name] = ("pass", [])
    return report("clickhouse-connect", counted, outdir)


def report(suite, counted, outdir):
    n = {"pass": 0, "fail": 0, "skip": 0}
    failures = []
    for test in sorted(counted):
        action, lines = counted[test]
        n[action] += 1
        if action == "fail":
            failures.append("%s\t%s" % (test, first_error(lines)))
    with open(os.path.join(outdir, "failures.txt"), "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in failures))
    line = "%s: %d passed, %d failed, %d skipped" % (suite, n["pass"], n["fail"], n["skip"])
    with open(os.path.join(outdir, "summary.txt"), "w", encoding="utf-8") as f:
        f.write(line + "\n")
    print(line)
    return 0


def main(argv):
    if len(argv) == 5 and argv[1] == "go-run":
        return go_run(*argv[2:])
    if len(argv) == 4 and argv[1] == "py-report":
        return py_report(*argv[2:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
