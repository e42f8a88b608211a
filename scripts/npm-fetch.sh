# Sourced by the scripts that fetch files from an npm package into the
# cache (fetch-chdb.sh, fetch-ui-assets.sh), after they set NAME, the
# prefix of their log lines. `npm pack` downloads a package's tarball
# without running any install scripts.

log() { echo "$NAME: $*" >&2; }

# cache_dir SUBDIR prints the cache directory SUBDIR: under
# SERVICEPING_CACHE (default ~/.cache/serviceping).
cache_dir() { echo "${SERVICEPING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/serviceping}/$1"; }

# start_fetch DIR PKG checks that npm is there to fetch PKG, creates DIR
# and, in it, the temporary directory $tmp, removed when the script exits.
start_fetch() {
	command -v npm >/dev/null || { log "npm is required to fetch $2 (apt-get install npm)"; exit 1; }
	mkdir -p "$1"
	tmp=$(mktemp -d "$1/.fetch.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
}

# progress PID DIR: until PID ends, report how many bytes DIR holds: on a
# terminal one line rewritten every second, otherwise a line every 10 s.
progress() {
	local pid=$1 dir=$2 n=0 mb
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		n=$((n + 1))
		mb=$(($(du -sb "$dir" 2>/dev/null | cut -f1 || echo 0) / 1048576))
		if [ -t 2 ]; then
			printf '\r%s: %d MB downloaded' "$NAME" "$mb" >&2
		elif [ $((n % 10)) -eq 0 ]; then
			log "$mb MB downloaded"
		fi
	done
	if [ -t 2 ]; then echo >&2; fi
}

# npm_pack SPEC downloads the tarball of package SPEC (name@version) into
# $tmp, showing the progress, and prints its path; when npm fails it shows
# npm's errors and exits 1.
npm_pack() {
	local spec=$1 pack tarball
	# npm pack writes the tarball only when it is complete; its cache (a
	# private one, removed with $tmp) fills while it downloads: that is the
	# progress.
	(cd "$tmp" && exec npm pack --ignore-scripts --loglevel=error --cache "$tmp/npm-cache" "$spec" >"$tmp/pack.out" 2>"$tmp/pack.err") &
	pack=$!
	progress "$pack" "$tmp/npm-cache"
	if ! wait "$pack"; then
		log "npm pack $spec failed:"
		cat "$tmp/pack.err" >&2
		exit 1
	fi
	tarball=$(tail -n1 "$tmp/pack.out")
	[ -n "$tarball" ] && [ -f "$tmp/$tarball" ] || { log "npm pack $spec produced no tarball"; cat "$tmp/pack.err" >&2; exit 1; }
	echo "$tmp/$tarball"
}
