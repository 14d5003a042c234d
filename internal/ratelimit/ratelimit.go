// Package ratelimit limits events per key (a session, say) with one token
// bucket from golang.org/x/time/rate per key, kept in a table whose size is
// bounded however many keys turn up.
package ratelimit

import (
	"container/list"
	"crypto/sha256"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys is the table's size when Options.MaxKeys is 0: keys active
// within one refill period (Options.Burst / PerMinute minutes) beyond this
// many start with a full bucket again. About 250 bytes each.
const DefaultMaxKeys = 10000

// Options configure a Limiter.
type Options struct {
	// PerMinute is the sustained rate per key; Burst how many events a key
	// may spend at once (its bucket's size). Both must be positive.
	PerMinute int
	Burst     int
	// MaxKeys caps the keys tracked at once (0: DefaultMaxKeys).
	MaxKeys int
	// Now is the clock (nil: time.Now); tests move it instead of sleeping.
	Now func() time.Time
}

// Limiter is a token bucket per key. Keys are hashed, so a long key costs no
// more memory than a short one. Buckets untouched long enough to be full
// again are forgotten (a fresh bucket is the same thing), and when the table
// is full the least recently used key goes first.
type Limiter struct {
	limit rate.Limit
	burst int
	max   int
	idle  time.Duration // time for an empty bucket to fill up
	now   func() time.Time

	mu   sync.Mutex
	keys map[[sha256.Size]byte]*list.Element
	lru  list.List // of *entry, most recently used at the front
}

type entry struct {
	key    [sha256.Size]byte
	bucket *rate.Limiter
	used   time.Time
}

// New returns a Limiter for o.
func New(o Options) *Limiter {
	l := &Limiter{
		limit: rate.Limit(float64(o.PerMinute) / 60),
		burst: o.Burst,
		max:   o.MaxKeys,
		now:   o.Now,
		keys:  map[[sha256.Size]byte]*list.Element{},
	}
	if l.max <= 0 {
		l.max = DefaultMaxKeys
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.idle = time.Duration(float64(o.Burst) / float64(l.limit) * float64(time.Second))
	return l
}

// Allow takes one event from key's bucket. When it is empty, Allow takes
// nothing and reports how long until it holds one again.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	now, h := l.now(), sha256.Sum256([]byte(key))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetIdle(now)
	e := l.entry(h, now)
	if e.bucket.AllowN(now, 1) {
		return true, 0
	}
	return false, l.wait(e.bucket, now)
}

// Peek reports what Allow would, taking nothing and tracking nothing new.
func (l *Limiter) Peek(key string) (ok bool, retryAfter time.Duration) {
	now, h := l.now(), sha256.Sum256([]byte(key))
	l.mu.Lock()
	defer l.mu.Unlock()
	el, found := l.keys[h]
	if !found {
		return true, 0
	}
	b := el.Value.(*entry).bucket
	if b.TokensAt(now) >= 1 {
		return true, 0
	}
	return false, l.wait(b, now)
}

// Len is the number of keys tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// entry returns key's entry, marked as used now, creating it (and making
// room for it) when the key is new.
func (l *Limiter) entry(h [sha256.Size]byte, now time.Time) *entry {
	if el, ok := l.keys[h]; ok {
		e := el.Value.(*entry)
		e.used = now
		l.lru.MoveToFront(el)
		return e
	}
	if len(l.keys) >= l.max {
		l.remove(l.lru.Back())
	}
	e := &entry{key: h, bucket: rate.NewLimiter(l.limit, l.burst), used: now}
	l.keys[h] = l.lru.PushFront(e)
	return e
}

// forgetIdle drops the keys whose buckets have refilled completely. They sit
// at the back, so the walk stops at the first key still refilling: each call
// costs as many steps as it removes, plus one.
func (l *Limiter) forgetIdle(now time.Time) {
	for el := l.lru.Back(); el != nil && now.Sub(el.Value.(*entry).used) >= l.idle; el = l.lru.Back() {
		l.remove(el)
	}
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.keys, el.Value.(*entry).key)
	l.lru.Remove(el)
}

// wait is how long until b holds a whole token.
func (l *Limiter) wait(b *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - b.TokensAt(now)
	return time.Duration(math.Ceil(missing / float64(l.limit) * float64(time.Second)))
}
