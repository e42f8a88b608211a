package lifecycle

import (
	"net/http"
	"net/http/pprof"
	"time"
)

// Profiling is whether a process serves Go's profiles (net/http/pprof)
// under /debug/pprof/ on its metrics listener: off unless PPROF=true. A
// profile shows the process's internals (command line, symbols, stacks)
// and a CPU profile costs CPU while it runs, so it is for an operator who
// reaches the metrics listener, which listens on loopback unless told
// otherwise.
type Profiling struct {
	PPROF bool `env:"PPROF, default=false"`
}

// ProfileWriteTimeout bounds an answer of a metrics listener serving the
// profiles: a CPU profile or an execution trace answers after the
// ?seconds= it was asked for (net/http/pprof refuses a duration not
// shorter than the server's write timeout).
const ProfileWriteTimeout = 5 * time.Minute

// Profiles is h with Go's profiles under /debug/pprof/ when on — the
// index, /debug/pprof/profile?seconds=N (CPU), /debug/pprof/trace, the
// named profiles (heap, allocs, goroutine, block, mutex, threadcreate),
// cmdline and symbol — and h itself when off, so that a request for them
// gets h's answer (404 from a ServeMux).
func Profiles(h http.Handler, on bool) http.Handler {
	if !on {
		return h
	}
	mux := http.NewServeMux()                    // as net/http/pprof registers them itself
	mux.HandleFunc("/debug/pprof/", pprof.Index) // the named profiles too
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
