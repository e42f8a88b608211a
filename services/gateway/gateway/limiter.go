package gateway

import (
	"container/list"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiter is a token bucket per key, holding at most max keys: the
// least recently used bucket is forgotten first (which only makes the
// limit more lenient for that key).
type keyedLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu    sync.Mutex
	order *list.List // of *bucket, most recent at the front
	byKey map[string]*list.Element
}

type bucket struct {
	key string
	lim *rate.Limiter
}

func newKeyedLimiter(perSecond float64, burst, maxKeys int) *keyedLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &keyedLimiter{
		limit: rate.Limit(perSecond), burst: burst, max: maxKeys,
		order: list.New(), byKey: make(map[string]*list.Element),
	}
}

// allow takes one token for key; when there is none it returns how long to wait.
// A nil limiter allows everything.
func (k *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if k == nil {
		return true, 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var lim *rate.Limiter
	if el, ok := k.byKey[key]; ok {
		k.order.MoveToFront(el)
		lim = el.Value.(*bucket).lim
	} else {
		lim = rate.NewLimiter(k.limit, k.burst)
		k.byKey[key] = k.order.PushFront(&bucket{key: key, lim: lim})
		for k.order.Len() > k.max {
			old := k.order.Back()
			k.order.Remove(old)
			delete(k.byKey, old.Value.(*bucket).key)
		}
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	wait := time.Duration(math.Ceil(float64(time.Second) / float64(k.limit)))
	return false, wait
}

func (k *keyedLimiter) len() int {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.byKey)
}
