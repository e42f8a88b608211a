package chdb

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// LibEnv names the environment variable holding the path of libchdb.so.
const LibEnv = "CHDB_LIB"

// ErrLibraryMissing is returned (wrapped) when libchdb.so cannot be found.
var ErrLibraryMissing = errors.New("libchdb.so not found: run scripts/fetch-chdb.sh and set CHDB_LIB to the path it prints")

// LibPath returns the path of libchdb.so from the CHDB_LIB environment
// variable, checking that the file exists.
func LibPath() (string, error) {
	p := os.Getenv(LibEnv)
	if p == "" {
		return "", fmt.Errorf("%s is not set: %w", LibEnv, ErrLibraryMissing)
	}
	if err := checkLib(p); err != nil {
		return "", err
	}
	return p, nil
}

func checkLib(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("stat %s: %w (%w)", p, err, ErrLibraryMissing)
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory: %w", p, ErrLibraryMissing)
	}
	return nil
}

// api holds the C entry points of libchdb.so (see chdb.h). Opaque handles are
// unsafe.Pointer values owned by the library.
type api struct {
	version                func() unsafe.Pointer
	setSignalHandlers      func(enabled int32)
	connect                func(argc int32, argv unsafe.Pointer) unsafe.Pointer
	closeConn              func(conn unsafe.Pointer)
	queryN                 func(conn, query unsafe.Pointer, queryLen uintptr, format unsafe.Pointer, formatLen uintptr) unsafe.Pointer
	queryWithParamsN       func(conn, query unsafe.Pointer, queryLen uintptr, format unsafe.Pointer, formatLen uintptr, names, nameLens, values, valueLens unsafe.Pointer, count uintptr) unsafe.Pointer
	resultBuffer           func(res unsafe.Pointer) unsafe.Pointer
	resultLength           func(res unsafe.Pointer) uintptr
	resultError            func(res unsafe.Pointer) unsafe.Pointer
	resultElapsed          func(res unsafe.Pointer) float64
	resultRowsRead         func(res unsafe.Pointer) uint64
	resultBytesRead        func(res unsafe.Pointer) uint64
	resultRowsWritten      func(res unsafe.Pointer) uint64
	resultBytesWritten     func(res unsafe.Pointer) uint64
	destroyResult          func(res unsafe.Pointer)
	streamInsertWithParams func(conn, query unsafe.Pointer, queryLen uintptr, format unsafe.Pointer, formatLen uintptr, names, nameLens, values, valueLens unsafe.Pointer, count uintptr) unsafe.Pointer
	streamAppend           func(stream, data unsafe.Pointer, n uintptr) int32
	streamDone             func(stream unsafe.Pointer) unsafe.Pointer
	streamCancelInsert     func(stream unsafe.Pointer)
	streamInsertError      func(stream unsafe.Pointer) unsafe.Pointer
	destroyInsertStream    func(stream unsafe.Pointer)
	streamQueryWithParamsN func(conn, query unsafe.Pointer, queryLen uintptr, format unsafe.Pointer, formatLen uintptr, names, nameLens, values, valueLens unsafe.Pointer, count uintptr) unsafe.Pointer
	streamFetchResult      func(conn, res unsafe.Pointer) unsafe.Pointer
	streamCancelQuery      func(conn, res unsafe.Pointer)
	classifyQueryN         func(conn, sql unsafe.Pointer, sqlLen uintptr, target unsafe.Pointer, targetLen uintptr, out unsafe.Pointer) int32
}

// The library is loaded once per process: the engine inside it is a process
// singleton (one storage path per process) and cannot be unloaded, so its
// handle is process state by nature rather than a package-level choice.
var (
	loadMu   sync.Mutex
	loaded   *api
	loadedAt string
)

func load(path string) (*api, error) {
	if err := checkLib(path); err != nil {
		return nil, err
	}
	loadMu.Lock()
	defer loadMu.Unlock()
	if loaded != nil {
		if path != loadedAt {
			return nil, fmt.Errorf("load %s: libchdb already loaded from %s in this process", path, loadedAt)
		}
		return loaded, nil
	}
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("dlopen %s: %w", path, err)
	}
	a := &api{}
	syms := []struct {
		fn   any
		name string
	}{
		{&a.version, "chdb_version"},
		{&a.setSignalHandlers, "chdb_set_signal_handlers_enabled"},
		{&a.connect, "chdb_connect"},
		{&a.closeConn, "chdb_close_conn"},
		{&a.queryN, "chdb_query_n"},
		{&a.queryWithParamsN, "chdb_query_with_params_n"},
		{&a.resultBuffer, "chdb_result_buffer"},
		{&a.resultLength, "chdb_result_length"},
		{&a.resultError, "chdb_result_error"},
		{&a.resultElapsed, "chdb_result_elapsed"},
		{&a.resultRowsRead, "chdb_result_rows_read"},
		{&a.resultBytesRead, "chdb_result_bytes_read"},
		{&a.resultRowsWritten, "chdb_result_rows_written"},
		{&a.resultBytesWritten, "chdb_result_bytes_written"},
		{&a.destroyResult, "chdb_destroy_query_result"},
		{&a.streamInsertWithParams, "chdb_stream_insert_with_params_n"},
		{&a.streamAppend, "chdb_stream_append"},
		{&a.streamDone, "chdb_stream_done"},
		{&a.streamCancelInsert, "chdb_stream_cancel_insert"},
		{&a.streamInsertError, "chdb_stream_insert_error"},
		{&a.destroyInsertStream, "chdb_destroy_insert_stream"},
		{&a.streamQueryWithParamsN, "chdb_stream_query_with_params_n"},
		{&a.streamFetchResult, "chdb_stream_fetch_result"},
		{&a.streamCancelQuery, "chdb_stream_cancel_query"},
		{&a.classifyQueryN, "chdb_classify_query_n"},
	}
	for _, s := range syms {
		if _, err := purego.Dlsym(h, s.name); err != nil {
			return nil, fmt.Errorf("libchdb %s lacks symbol %s (need chDB >= 26.7): %w", path, s.name, err)
		}
		purego.RegisterLibFunc(s.fn, h, s.name)
	}
	// The Go runtime owns the process's signals (SIGSEGV turns into panics,
	// SIGINT/SIGTERM reach signal.NotifyContext). Keep ClickHouse's
	// process-wide handlers out of its way; this must precede chdb_connect.
	a.setSignalHandlers(0)
	loaded, loadedAt = a, path
	return a, nil
}

// cString reads a NUL-terminated C string.
func cString(p unsafe.Pointer) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(p), n))
}

// bytePtr returns a pointer to the first byte of b, or to a static zero byte
// when b is empty (the C side never reads it then).
func bytePtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return unsafe.Pointer(&zero)
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

// zero backs pointers to empty buffers; the C side never reads it.
var zero byte
