package health

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// reports collects what the Monitor tells the gauge.
type reports struct {
	mu  sync.Mutex
	got map[string][]bool
}

func (r *reports) report(dep string, up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[dep] = append(r.got[dep], up)
}

func (r *reports) last(dep string) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.got[dep]
	if len(g) == 0 {
		return false, 0
	}
	return g[len(g)-1], len(g)
}

func TestMonitorFollowsEachDependency(t *testing.T) {
	var redisUp atomic.Bool
	hang := make(chan struct{})
	defer close(hang)
	r := &reports{got: map[string][]bool{}}
	m := New(Options{
		Dependencies: []Dependency{
			{Name: "redis", Probe: func(context.Context) error {
				if redisUp.Load() {
					return nil
				}
				return errors.New("connection refused")
			}},
			// A service that never answers is down once the timeout
			// passes, and does not hold the others' answers back.
			{Name: "idp", Probe: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}},
		},
		Interval: 20 * time.Millisecond, Timeout: 50 * time.Millisecond, Report: r.report,
	})
	if up, n := r.last("redis"); up || n != 1 {
		t.Fatalf("before any probe: redis up=%v after %d reports, want down", up, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()

	waitFor(t, func() bool { _, n := r.last("redis"); return n >= 2 })
	if s := m.Status(); s[0].Up || s[0].Checked.IsZero() || s[1].Name != "idp" {
		t.Fatalf("status with redis down: %+v", s)
	}
	redisUp.Store(true)
	waitFor(t, func() bool { up, _ := r.last("redis"); return up })
	waitFor(t, func() bool { _, n := r.last("idp"); return n >= 2 })
	if up, _ := r.last("idp"); up {
		t.Fatal("a probe that timed out counted as up")
	}
	s := m.Status()
	if !s[0].Up || s[0].Since.After(s[0].Checked) {
		t.Fatalf("status after redis came back: %+v", s[0])
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestMonitorDefaults(t *testing.T) {
	m := New(Options{})
	if m.o.Interval != DefaultInterval || m.o.Timeout != DefaultTimeout || len(m.Status()) != 0 {
		t.Fatalf("defaults: %+v", m.o)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
	}
}
