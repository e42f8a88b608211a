package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// rssSampler samples the resident memory of process trees from /proc
// every interval until stopped, keeping each tree's peak and last sample.
type rssSampler struct {
	roots    map[string]int // name → the tree's root pid
	interval time.Duration

	mu         sync.Mutex
	peak, last map[string]int64
	stopc      chan struct{}
	done       chan struct{}
}

// sampleRSS starts sampling the trees rooted at roots (name → pid) at once
// and then every interval.
func sampleRSS(roots map[string]int, interval time.Duration) *rssSampler {
	s := &rssSampler{roots: roots, interval: interval, peak: map[string]int64{}, last: map[string]int64{},
		stopc: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	for name, pid := range s.roots {
		rss := treeRSS(pid)
		s.mu.Lock()
		s.last[name] = rss
		s.peak[name] = max(s.peak[name], rss)
		s.mu.Unlock()
	}
}

// stop takes a last sample and ends the sampling.
func (s *rssSampler) stop() {
	close(s.stopc)
	<-s.done
	s.sample()
}

// Peak is the highest resident memory of the tree called name, in bytes.
func (s *rssSampler) Peak(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak[name]
}

// Last is the tree's resident memory at the last sample.
func (s *rssSampler) Last(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[name]
}

// treeRSS is the resident memory of pid and all its descendants, in
// bytes; a process that is gone counts nothing.
func treeRSS(pid int) int64 {
	var total int64
	for _, p := range descendants(pid) {
		total += processRSS(p)
	}
	return total
}

// processRSS is a process's resident set (/proc/PID/statm, in pages).
func processRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// descendants is pid and every process below it, from the children each
// thread started (/proc/PID/task/TID/children).
func descendants(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", out[i]))
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, c := range bytes.Fields(b) {
				if n, err := strconv.Atoi(string(c)); err == nil {
					out = append(out, n)
				}
			}
		}
	}
	return out
}
