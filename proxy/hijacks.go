package proxy

import (
	"context"
	"net"
	"sync"
	"time"
)

// hijacks are the connections handlers took over (websockets after a 101),
// which http.Server.Shutdown neither waits for nor closes: Serve waits for
// them, within the drain timeout, and closes what is left.
type hijacks struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	idle  chan struct{} // closed when the last one ends, while waiting
}

func newHijacks() *hijacks { return &hijacks{conns: map[net.Conn]struct{}{}} }

type hijacksKey struct{}

// withHijacks makes h findable from every request a server built with this
// base context serves.
func withHijacks(ctx context.Context, h *hijacks) context.Context {
	return context.WithValue(ctx, hijacksKey{}, h)
}

// hijacksFrom is the server's tracker; nil when the handler runs outside
// Serve (tests, the demo's own servers).
func hijacksFrom(ctx context.Context) *hijacks {
	h, _ := ctx.Value(hijacksKey{}).(*hijacks)
	return h
}

func (h *hijacks) add(c net.Conn) {
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
}

// remove is called when the handler that hijacked c has returned.
func (h *hijacks) remove(c net.Conn) {
	h.mu.Lock()
	delete(h.conns, c)
	if len(h.conns) == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
	h.mu.Unlock()
}

// wait returns once every hijacked connection's handler has returned, or
// when ctx ends: then it closes the connections still open (their handlers
// see the error and return) and gives their handlers a moment to write
// their access-log lines. It returns how many were closed.
func (h *hijacks) wait(ctx context.Context) int {
	h.mu.Lock()
	if len(h.conns) == 0 {
		h.mu.Unlock()
		return 0
	}
	idle := make(chan struct{})
	h.idle = idle
	h.mu.Unlock()
	select {
	case <-idle:
		return 0
	case <-ctx.Done():
	}
	h.mu.Lock()
	n := len(h.conns)
	for c := range h.conns {
		_ = c.Close() // the handler's copy ends with an error
	}
	h.mu.Unlock()
	select {
	case <-idle:
	case <-time.After(time.Second):
	}
	return n
}
