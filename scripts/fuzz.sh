#!/usr/bin/env bash
# Fuzzes every fuzz target of the repository for a short while: plain
# `go test` already runs each target's seed corpus (its f.Add seeds and
# testdata/fuzz/<FuzzName>/); this looks a little beyond it. Targets are
# found by their `func FuzzXxx(f *testing.F)`, so a new one is fuzzed
# without being listed here. FUZZTIME (default 3000x) is each target's
# budget; FUZZ_PARALLEL (default 2) its workers. The default is a count of
# executions, not a duration: with a duration, Go 1.26's fuzzing
# coordinator can fail a target with a bare "context deadline exceeded"
# when the time runs out while a worker is busy (a race in the toolchain,
# go.dev/issue/75804, fixed in Go 1.27) — on a loaded machine, often.
#
# A failing input is written to the package's testdata/fuzz/<FuzzName>/:
# fix the code and commit the input with the fix, as a regression seed.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
FUZZTIME=${FUZZTIME:-3000x}
FUZZ_PARALLEL=${FUZZ_PARALLEL:-2}

cd "$REPO"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*_test.go' | xargs grep -l '^func Fuzz[A-Za-z0-9_]*(f \*testing.F)' | sort)
if [ ${#files[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$SECONDS
for file in "${files[@]}"; do
	dir=$(dirname "$file")
	for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing.F).*/\1/p' "$file"); do
		echo "fuzz: $dir $name ($FUZZTIME)"
		(cd "$dir" && go test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" -parallel="$FUZZ_PARALLEL" . >"$log" 2>&1) || {
			cat "$log" >&2
			echo "fuzz.sh: $dir $name failed; the failing input is in $dir/testdata/fuzz/$name/" >&2
			exit 1
		}
	done
done
echo "fuzz: every target fuzzed in $((SECONDS - start))s"
