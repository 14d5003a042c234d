package h1transport

import "time"

// Hooks for the tests in h1transport_test: they look at the pool, which the
// public API does not show.

// IdleLen is the number of pooled connections.
func (t *Transport) IdleLen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.idle)
}

// IdleAlive reports, for each pooled connection, whether it would pass the
// check made before reuse.
func (t *Transport) IdleAlive() []bool {
	t.mu.Lock()
	idle := append([]*pooledConn(nil), t.idle...)
	t.mu.Unlock()
	alive := make([]bool, len(idle))
	for i, c := range idle {
		alive[i] = c.alive()
	}
	return alive
}

// AgeIdle makes every pooled connection look idle since d ago.
func (t *Transport) AgeIdle(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.idle {
		c.idleAt = time.Now().Add(-d)
	}
}

// Reaping reports whether the timer that closes expired idle connections
// is set.
func (t *Transport) Reaping() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reaper != nil
}
