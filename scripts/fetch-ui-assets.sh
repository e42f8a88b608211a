#!/usr/bin/env bash
# Fetches the built-in dashboard's chart library, Apache ECharts, from the
# npm package echarts at a pinned version, unpacks echarts.min.js (and its
# LICENSE) once into the cache and prints the directory holding them on
# stdout (logs go to stderr). `serviceping run` / `serviceping ui` serve it
# from there, offline; nothing is fetched at run time.
#
#   UI_ASSETS=dir            use this directory (it must hold echarts.min.js), fetch nothing
#   ECHARTS_VERSION=...      override the pinned package version
#   SERVICEPING_CACHE=dir    cache root (default ~/.cache/serviceping)
#
# `npm pack` downloads the tarball without running any install scripts.
set -euo pipefail

ECHARTS_VERSION=${ECHARTS_VERSION:-6.1.0}
NAME=fetch-ui-assets
. "$(dirname "${BASH_SOURCE[0]}")/npm-fetch.sh"

if [ -n "${UI_ASSETS:-}" ] && [ -f "$UI_ASSETS/echarts.min.js" ]; then
	echo "$UI_ASSETS"
	exit 0
fi

dir=$(cache_dir "ui/echarts/$ECHARTS_VERSION")
if [ -f "$dir/echarts.min.js" ]; then
	echo "$dir"
	exit 0
fi

start_fetch "$dir" echarts
log "downloading echarts@$ECHARTS_VERSION (~2 MB, once)"
tarball=$(npm_pack "echarts@$ECHARTS_VERSION")
mkdir -p "$tmp/x"
tar -xzf "$tarball" -C "$tmp/x" package/dist/echarts.min.js package/LICENSE
# Move into place, the library last: a directory holding echarts.min.js is
# complete.
mv -f "$tmp/x/package/LICENSE" "$dir/LICENSE"
mv -f "$tmp/x/package/dist/echarts.min.js" "$dir/echarts.min.js"
log "ready: $dir"
echo "$dir"
