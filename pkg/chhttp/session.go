package chhttp

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/serviceping/serviceping/pkg/chdb"
)

// lease is the engine connection a request runs on: a session's, or one of
// the pool's. done gives it back; it may be called more than once.
type lease struct {
	conn    *chdb.Conn
	session *session
	once    sync.Once
	release func()
	// broken marks a pooled connection that must not serve anyone else:
	// it is closed when the lease is released.
	broken bool
}

func (l *lease) done() { l.once.Do(l.release) }

// beforeRelease runs f when the lease is released, while the connection is
// still the lease's.
func (l *lease) beforeRelease(f func()) {
	release := l.release
	l.release = func() {
		f()
		release()
	}
}

// lease takes a slot for a statement (a reader's or a writer's) and the
// connection it runs on.
func (h *Handler) lease(ctx context.Context, req *request, read bool) (*lease, error) {
	var s *session
	if req.sessionID != "" {
		var err error
		if s, err = h.sessions.acquire(req); err != nil {
			return nil, err
		}
	}
	free, err := h.pool.slot(ctx, read)
	if err != nil {
		if s != nil {
			h.sessions.release(s, false)
		}
		return nil, err
	}
	if s != nil {
		closeSession := req.params.Get("close_session") == "1"
		return &lease{conn: s.conn, session: s, release: func() {
			free()
			h.sessions.release(s, closeSession)
		}}, nil
	}
	conn, err := h.pool.get()
	if err != nil {
		free()
		return nil, err
	}
	l := &lease{conn: conn}
	l.release = func() {
		if l.broken {
			_ = conn.Close()
		} else {
			h.pool.put(conn)
		}
		free()
	}
	return l, nil
}

// pool holds the engine connections of requests without a session and the
// slots that bound how many statements run at once.
type pool struct {
	engine           Engine
	read, write      chan struct{}
	readers, writers int
	mu               sync.Mutex
	idle             []*chdb.Conn
	closed           bool
}

func newPool(engine Engine, readers, writers int) *pool {
	return &pool{engine: engine, read: make(chan struct{}, readers), write: make(chan struct{}, writers), readers: readers, writers: writers}
}

// slot waits for a reader's or a writer's slot and returns its release.
func (p *pool) slot(ctx context.Context, read bool) (func(), error) {
	ch, what, n := p.write, "writers", p.writers
	if read {
		ch, what, n = p.read, "readers", p.readers
	}
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, &httpError{status: http.StatusServiceUnavailable, code: codeTimeoutExceeded,
			msg: fmt.Sprintf("DB::Exception: Timeout exceeded while waiting for one of the %d %s' slots: %v. (TIMEOUT_EXCEEDED)", n, what, context.Cause(ctx))}
	}
}

// get returns an idle connection or opens one.
func (p *pool) get() (*chdb.Conn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	return p.engine.Connect()
}

func (p *pool) put(c *chdb.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return
	}
	p.idle = append(p.idle, c)
}

func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.Close()
	}
}

// session is a ClickHouse session: a connection of its own, used by one
// request at a time, closed timeout after its last request.
type session struct {
	id      string // the user's name, NUL, the session_id
	conn    *chdb.Conn
	locked  bool
	timeout time.Duration
	timer   *time.Timer
}

type sessions struct {
	engine          Engine
	def, maxTimeout time.Duration
	max             int
	m               *metrics
	mu              sync.Mutex
	byID            map[string]*session
	closed          bool
}

func newSessions(engine Engine, opts Options, m *metrics) *sessions {
	return &sessions{engine: engine, def: opts.SessionTimeout, maxTimeout: opts.MaxSessionTimeout, max: opts.MaxSessions, m: m, byID: map[string]*session{}}
}

// timeout reads session_timeout (seconds) like ClickHouse.
func (s *sessions) timeout(param string) (time.Duration, error) {
	if param == "" {
		return s.def, nil
	}
	secs, err := strconv.ParseUint(param, 10, 32)
	if err != nil {
		return 0, &httpError{status: http.StatusBadRequest, code: codeInvalidSessionTimout,
			msg: fmt.Sprintf("DB::Exception: Invalid session timeout: '%s'. (INVALID_SESSION_TIMEOUT)", param)}
	}
	d := time.Duration(secs) * time.Second
	if d > s.maxTimeout {
		return 0, &httpError{status: http.StatusBadRequest, code: codeInvalidSessionTimout,
			msg: fmt.Sprintf("DB::Exception: Session timeout '%d' is larger than max_session_timeout: %d. Maximum session timeout could be modified in configuration file. (INVALID_SESSION_TIMEOUT)",
				secs, int(s.maxTimeout.Seconds()))}
	}
	return d, nil
}

// acquire locks the request's session, creating it unless session_check=1.
func (s *sessions) acquire(req *request) (*session, error) {
	timeout, err := s.timeout(req.params.Get("session_timeout"))
	if err != nil {
		return nil, err
	}
	// A session is its user's: another user's session_id names another.
	id, key := req.sessionID, req.user+"\x00"+req.sessionID
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, chdb.ErrClosed
	}
	if sess, ok := s.byID[key]; ok {
		defer s.mu.Unlock()
		if sess.locked {
			return nil, &httpError{status: http.StatusInternalServerError, code: codeSessionIsLocked,
				msg: fmt.Sprintf("DB::Exception: Session %s is locked by a concurrent client. (SESSION_IS_LOCKED)", id)}
		}
		sess.locked = true
		if sess.timer != nil {
			sess.timer.Stop()
		}
		if req.params.Has("session_timeout") {
			sess.timeout = timeout
		}
		return sess, nil
	}
	if req.params.Get("session_check") == "1" {
		s.mu.Unlock()
		return nil, &httpError{status: http.StatusNotFound, code: codeSessionNotFound,
			msg: fmt.Sprintf("DB::Exception: Session %s not found. (SESSION_NOT_FOUND)", id)}
	}
	if len(s.byID) >= s.max {
		s.mu.Unlock()
		return nil, &httpError{status: http.StatusServiceUnavailable, code: codeSessionLimit,
			msg: fmt.Sprintf("DB::Exception: Too many sessions: the server keeps at most %d at once; close some (close_session=1) or let them expire. (USER_SESSION_LIMIT_EXCEEDED)", s.max)}
	}
	sess := &session{id: key, locked: true, timeout: timeout}
	s.byID[key] = sess
	s.mu.Unlock()
	conn, err := s.engine.Connect()
	if err != nil {
		s.mu.Lock()
		delete(s.byID, key)
		s.mu.Unlock()
		return nil, err
	}
	sess.conn = conn
	s.m.sessions.Inc()
	return sess, nil
}

// release unlocks a session; it expires after its timeout unless used again,
// and ends now when closeIt is set.
func (s *sessions) release(sess *session, closeIt bool) {
	s.mu.Lock()
	sess.locked = false
	if closeIt || s.closed {
		s.forget(sess)
		s.mu.Unlock()
		_ = sess.conn.Close()
		return
	}
	sess.timer = time.AfterFunc(sess.timeout, func() { s.expire(sess) })
	s.mu.Unlock()
}

func (s *sessions) expire(sess *session) {
	s.mu.Lock()
	gone := !sess.locked && s.byID[sess.id] == sess
	if gone {
		s.forget(sess)
	}
	s.mu.Unlock()
	if gone {
		_ = sess.conn.Close()
	}
}

// forget removes a session from the store; called with s.mu held. Its
// connection is the caller's to close.
func (s *sessions) forget(sess *session) {
	delete(s.byID, sess.id)
	s.m.sessions.Dec()
}

// close ends the sessions not in use; those in use end with their request.
func (s *sessions) close() {
	s.mu.Lock()
	s.closed = true
	var idle []*session
	for _, sess := range s.byID {
		if sess.timer != nil {
			sess.timer.Stop()
		}
		if !sess.locked {
			s.forget(sess)
			idle = append(idle, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range idle {
		_ = sess.conn.Close()
	}
}
