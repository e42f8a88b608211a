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
NAME=fetch-chdb
. "$(dirname "${BASH_SOURCE[0]}")/npm-fetch.sh"

if [ -n "${CHDB_LIB:-}" ] && [ -f "$CHDB_LIB" ]; then
	echo "$CHDB_LIB"
	exit 0
fi

case "$(uname -s)-$(uname -m)" in
Linux-x86_64) ;;
*) log "unsupported platform $(uname -s)-$(uname -m): only linux x86_64 (glibc) is packaged"; exit 1 ;;
esac

dir=$(cache_dir "chdb/$CHDB_VERSION")
lib=$dir/libchdb.so
if [ -f "$lib" ]; then
	echo "$lib"
	exit 0
fi

start_fetch "$dir" "$PKG"
log "downloading $PKG@$CHDB_VERSION (~180 MB, once)"
tarball=$(npm_pack "$PKG@$CHDB_VERSION")
log "downloaded $(($(stat -c %s "$tarball") / 1048576)) MB"

log "unpacking libchdb.so"
mkdir -p "$tmp/x"
tar -xzf "$tarball" -C "$tmp/x"
found=$(find "$tmp/x" -name libchdb.so -type f | head -n1)
[ -n "$found" ] || { log "libchdb.so not found in ${tarball##*/}"; exit 1; }
# Rename into place atomically so a concurrent or interrupted run never sees
# a half-written library.
mv "$found" "$tmp/libchdb.so"
mv -f "$tmp/libchdb.so" "$lib"
log "ready: $lib"
echo "$lib"
