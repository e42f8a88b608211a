package chdb

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// ErrNotStreamable is returned by Conn.Query for a statement the engine
// does not stream (only SELECT queries stream; run the others with Exec).
var ErrNotStreamable = errors.New("chdb: statement cannot be streamed")

// Rows is the output of a streamed query, one engine block at a time. It
// holds its connection until Close.
type Rows struct {
	c      *Conn
	ctx    context.Context
	res    unsafe.Pointer // the stream's chdb_result
	id     string         // marker id, for KILL QUERY
	marker string
	end    func() // restores the session's settings, releases the connection
	chunk  []byte
	stats  Result
	err    error
	done   bool
	closed bool
}

// Query starts a streamed query. The output comes block by block from Next,
// in req.Format; nothing but the current block is held in memory. When ctx
// ends, the statement is killed — also while the engine is still computing
// the next block — and Next reports the context's error.
func (c *Conn) Query(ctx context.Context, req Request) (*Rows, error) {
	end, err := c.begin(ctx, req)
	if err != nil {
		return nil, err
	}
	id := newMarkerID()
	r := &Rows{c: c, ctx: ctx, id: id, marker: "\n" + markerPrefix + id + markerSuffix, end: end}
	a := c.e.api
	q, f := []byte(req.SQL+r.marker), []byte(formatOr(req.Format))
	args := newCArgs(req.Params)
	r.res = a.streamQueryWithParamsN(c.handle(), bytePtr(q), uintptr(len(q)), bytePtr(f), uintptr(len(f)),
		args.namesP, args.nLensP, args.valuesP, args.vLensP, args.count)
	args.pin.Unpin()
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	if r.res == nil {
		r.done = true
		_ = r.Close()
		return nil, &Error{Message: "chdb_stream_query returned no stream"}
	}
	if err := c.resultErr(r.res, r.marker); err != nil {
		r.done = true
		_ = r.Close()
		var ce *Error
		if errors.As(err, &ce) && ce.Code == 36 && strings.Contains(ce.Message, "Streaming query is not supported") {
			return nil, fmt.Errorf("%w: %s", ErrNotStreamable, ce.Message)
		}
		return nil, err
	}
	return r, nil
}

// Next fetches the next block of output. It returns false at the end of the
// output or on an error (see Err).
func (r *Rows) Next() bool {
	if r.done || r.closed {
		return false
	}
	if err := r.ctx.Err(); err != nil {
		r.fail(fmt.Errorf("query cancelled: %w", context.Cause(r.ctx)))
		return false
	}
	a := r.c.e.api
	// While the engine computes the block, a cancelled context kills the
	// statement from the control connection; the fetch then returns.
	stop := context.AfterFunc(r.ctx, func() { r.c.e.kill(r.id) })
	res := a.streamFetchResult(r.c.handle(), r.res)
	stop()
	if res == nil {
		r.fail(&Error{Message: "chdb_stream_fetch_result returned no result"})
		return false
	}
	defer a.destroyResult(res)
	if err := r.c.resultErr(res, r.marker); err != nil {
		if r.ctx.Err() != nil {
			err = fmt.Errorf("query cancelled: %w", context.Cause(r.ctx))
		}
		r.fail(err)
		return false
	}
	r.stats.add(r.c.stats(res))
	n := a.resultLength(res)
	buf := a.resultBuffer(res)
	if n == 0 || buf == nil {
		r.done = true
		return false
	}
	r.chunk = append(r.chunk[:0], unsafe.Slice((*byte)(buf), n)...)
	return true
}

func (r *Rows) fail(err error) {
	r.err = err
	r.done = true
}

// Chunk is the block Next fetched, in the query's format. It is valid until
// the next call of Next.
func (r *Rows) Chunk() []byte { return r.chunk }

// Err is the error that ended the output early, nil at its natural end.
func (r *Rows) Err() error { return r.err }

// Stats are the statistics of the blocks fetched so far.
func (r *Rows) Stats() Result { return r.stats }

// Close ends the query — cancelling it when the output was not read to the
// end — and releases the connection. It is safe to call more than once.
func (r *Rows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	a := r.c.e.api
	if r.res != nil {
		if !r.done {
			a.streamCancelQuery(r.c.handle(), r.res)
		}
		a.destroyResult(r.res)
		r.res = nil
	}
	r.chunk = nil
	r.end()
	return nil
}
