#!/usr/bin/env bash
# Fetches libchdb.so (the embedded ClickHouse engine) from the npm package
# @chdb/lib-linux-x64-gnu at a pinned version, unpacks it once into the cache
# and prints its absolute path on stdout (logs go to stderr).
#
#   CHDB_LIB=/path/libchdb.so   use this file, fetch nothing
#   CHDB_VERSION=...            override the pinned package version
#   SERVICEPING_CACHE=dir       cache root (default ~/.cache/serviceping)
#
# `npm pack` downloads the tarball without running any install scripts; the
# download's progress goes to stderr. Once cached, nothing is fetched.
set -euo pipefail

CHDB_VERSION=${CHDB_VERSION:-26.7.3-stable.1}
PKG=@chdb/lib-linux-x64-gnu
log() { echo "fetch-chdb: $*" >&2; }

if [ -n "${CHDB_LIB:-}" ] && [ -f "$CHDB_LIB" ]; then
	echo "$CHDB_LIB"
	exit 0
fi

case "$(uname -s)-$(uname -m)" in
Linux-x86_64) ;;
*) log "unsupported platform $(uname -s)-$(uname -m): only linux x86_64 (glibc) is packaged"; exit 1 ;;
esac

CACHE=${SERVICEPING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/serviceping}
dir=$CACHE/chdb/$CHDB_VERSION
lib=$dir/libchdb.so
if [ -f "$lib" ]; then
	echo "$lib"
	exit 0
fi

command -v npm >/dev/null || { log "npm is required to fetch $PKG (apt-get install npm)"; exit 1; }
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# progress PID DIR: until PID ends, report how many bytes DIR holds: on a
# terminal one line rewritten every second, otherwise a line every 10 s.
progress() {
	local pid=$1 dir=$2 n=0 mb
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		n=$((n + 1))
		mb=$(($(du -sb "$dir" 2>/dev/null | cut -f1 || echo 0) / 1048576))
		if [ -t 2 ]; then
			printf '\rfetch-chdb: %d MB downloaded' "$mb" >&2
		elif [ $((n % 10)) -eq 0 ]; then
			log "$mb MB downloaded"
		fi
	done
	if [ -t 2 ]; then echo >&2; fi
}

log "downloading $PKG@$CHDB_VERSION (~180 MB, once)"
# npm pack writes the tarball only when it is complete; its cache (a private
# one, removed with $tmp) fills while it downloads: that is the progress.
(cd "$tmp" && exec npm pack --ignore-scripts --loglevel=error --cache "$tmp/npm-cache" "$PKG@$CHDB_VERSION" >"$tmp/pack.out" 2>"$tmp/pack.err") &
pack=$!
progress "$pack" "$tmp/npm-cache"
if ! wait "$pack"; then
	log "npm pack $PKG@$CHDB_VERSION failed:"
	cat "$tmp/pack.err" >&2
	exit 1
fi
tarball=$(tail -n1 "$tmp/pack.out")
[ -n "$tarball" ] && [ -f "$tmp/$tarball" ] || { log "npm pack $PKG@$CHDB_VERSION produced no tarball"; cat "$tmp/pack.err" >&2; exit 1; }
log "downloaded $(($(stat -c %s "$tmp/$tarball") / 1048576)) MB"

log "unpacking libchdb.so"
mkdir -p "$tmp/x"
tar -xzf "$tmp/$tarball" -C "$tmp/x"
found=$(find "$tmp/x" -name libchdb.so -type f | head -n1)
[ -n "$found" ] || { log "libchdb.so not found in $tarball"; exit 1; }
# Rename into place atomically so a concurrent or interrupted run never sees
# a half-written library.
mv "$found" "$tmp/libchdb.so"
mv -f "$tmp/libchdb.so" "$lib"
log "ready: $lib"
echo "$lib"
