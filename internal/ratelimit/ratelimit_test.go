package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

// clock is a test clock the limiter reads.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(perMinute, burst, maxKeys int) (*Limiter, *clock) {
	c := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	return New(Options{PerMinute: perMinute, Burst: burst, MaxKeys: maxKeys, Now: c.now}), c
}

func TestBurstThenRetryAfter(t *testing.T) {
	l, c := newTestLimiter(30, 20, 0)
	for i := range 20 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("event %d of a burst of 20 refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 2*time.Second {
		t.Fatalf("21st event: ok=%v retry after %s, want refused, 2s (30 a minute)", ok, wait)
	}
	c.advance(time.Second)
	if ok, wait := l.Allow("a"); ok || wait != time.Second {
		t.Fatalf("a second later: ok=%v retry after %s, want refused, 1s", ok, wait)
	}
	c.advance(time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refused after waiting as told")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("one refill allowed two events")
	}
}

func TestKeysAreIndependent(t *testing.T) {
	l, _ := newTestLimiter(1, 2, 0)
	l.Allow("a")
	l.Allow("a")
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("a's third event allowed")
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("b refused because a spent its bucket")
	}
}

func TestPeekTakesNothing(t *testing.T) {
	l, _ := newTestLimiter(1, 2, 0)
	for range 5 {
		if ok, _ := l.Peek("a"); !ok {
			t.Fatal("peek at a fresh key refused")
		}
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("peek tracked %d keys", n)
	}
	l.Allow("a")
	l.Allow("a")
	if ok, wait := l.Peek("a"); ok || wait != time.Minute {
		t.Fatalf("peek at a spent key: ok=%v retry after %s, want refused, 1m", ok, wait)
	}
}

func TestIdleKeysAreForgotten(t *testing.T) {
	l, c := newTestLimiter(30, 20, 0) // an empty bucket is full again after 40s
	for i := range 100 {
		l.Allow(fmt.Sprint("session-", i))
	}
	c.advance(39 * time.Second)
	l.Allow("late")
	if n := l.Len(); n != 101 {
		t.Fatalf("%d keys tracked before they are idle, want 101", n)
	}
	c.advance(time.Second)
	l.Allow("later")
	if n := l.Len(); n != 2 {
		t.Fatalf("%d keys tracked after 100 went idle, want 2", n)
	}
}

func TestTableSizeIsBounded(t *testing.T) {
	l, c := newTestLimiter(30, 20, 100)
	// A flooding key used all along stays tracked: only the least recently
	// used keys make room, so it never gets a fresh bucket.
	floodAllowed := 0
	for i := range 10000 {
		if ok, _ := l.Allow("flood"); ok {
			floodAllowed++
		}
		l.Allow(fmt.Sprint("session-", i))
		if n := l.Len(); n > 100 {
			t.Fatalf("%d keys tracked after %d sessions, cap 100", n, i+1)
		}
		c.advance(time.Millisecond)
	}
	// 10s at 30 a minute: the burst of 20 and 5 refills at most.
	if floodAllowed > 25 {
		t.Fatalf("the flooding key was allowed %d events in 10s: it was evicted and started afresh", floodAllowed)
	}
}
