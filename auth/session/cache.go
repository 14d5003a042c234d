package session

import (
	"strings"
	"sync"
	"time"
)

// defaultCacheBytes bounds the memory of remembered cookie values (keys
// plus a rough per-entry cost), about 4,000 typical sessions.
const defaultCacheBytes = 16 << 20

// entryOverhead approximates an entry's memory beyond its key: the decoded
// Session, claims and map bookkeeping.
const entryOverhead = 2048

// cache remembers sessions decoded from exact cookie values, so a user's
// every request does not pay for JSON decoding again. Only values that were
// authenticated are ever stored, so an attacker cannot fill it without valid
// cookies; expiry is checked on every hit. Size is bounded in bytes; when
// full, arbitrary entries (Go's map order is random) are dropped.
type cache struct {
	mu      sync.RWMutex
	entries map[string]*Session
	bytes   int
	limit   int
}

func newCache(limit int) *cache {
	return &cache{entries: map[string]*Session{}, limit: limit}
}

// get returns the session decoded from value if it is remembered and not
// expired at now. The result is shared and must not be modified.
func (c *cache) get(value string, now time.Time) (*Session, bool) {
	c.mu.RLock()
	sess, ok := c.entries[value]
	c.mu.RUnlock()
	if !ok || !now.Before(sess.Expiry) {
		return nil, false
	}
	return sess, true
}

// put remembers sess, decoded from value, which must have been authenticated.
func (c *cache) put(value string, sess *Session) {
	cost := len(value) + entryOverhead
	if cost > c.limit {
		return
	}
	// value may be a substring of a whole Cookie header: keep only its bytes.
	value = strings.Clone(value)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[value]; ok {
		return
	}
	for k := range c.entries {
		if c.bytes+cost <= c.limit {
			break
		}
		c.bytes -= len(k) + entryOverhead
		delete(c.entries, k)
	}
	c.entries[value] = sess
	c.bytes += cost
}
