// Package health watches the services the proxy shares with its other
// replicas (the IdP, Redis) without letting them decide readiness: every
// replica sees the same outage, so failing readiness on one would take them
// all out of the Service at once. A Monitor probes each dependency in the
// background and keeps the last answer for metrics and the verbose health
// view; requests never wait for a probe.
package health

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = 2 * time.Second
)

// Dependency is one shared service and how to ask whether it answers.
type Dependency struct {
	// Name is the dep label of lcw_dependency_up: "idp", "redis".
	Name string
	// Probe returns nil when the service answers. It must honour ctx's
	// deadline (Options.Timeout).
	Probe func(ctx context.Context) error
}

// Options configure a Monitor.
type Options struct {
	Dependencies []Dependency
	// Interval between probes (DefaultInterval when zero); Timeout bounds
	// each probe (DefaultTimeout when zero).
	Interval, Timeout time.Duration
	// Report, when set, is told each probe's outcome (the gauge).
	Report func(dep string, up bool)
	// Logger hears about changes (up → down and back); nil discards.
	Logger *slog.Logger
}

// Status is a dependency's last known state.
type Status struct {
	Name string `json:"-"`
	Up   bool   `json:"up"`
	// Since is when the state last changed (zero before the first probe).
	Since time.Time `json:"since,omitzero"`
	// Checked is when the last probe ended.
	Checked time.Time `json:"checked,omitzero"`
}

// Monitor probes the dependencies until its Run's context ends.
type Monitor struct {
	o      Options
	mu     sync.Mutex
	status []Status // in Dependencies' order
}

// New makes a Monitor; nothing is probed until Run. Every dependency
// starts down (not yet seen answering).
func New(o Options) *Monitor {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{o: o, status: make([]Status, len(o.Dependencies))}
	for i, d := range o.Dependencies {
		m.status[i].Name = d.Name
		if o.Report != nil {
			o.Report(d.Name, false)
		}
	}
	return m
}

// Run probes every dependency at once and then every Interval, until ctx
// ends. The probes of one round run in parallel, so a hanging service
// delays no other's answer.
func (m *Monitor) Run(ctx context.Context) {
	for {
		// A dependency that is down is probed again sooner, so recovery
		// (and the start, while discovery is under way) shows quickly.
		wait := m.o.Interval
		if !m.probeAll(ctx) {
			wait = min(wait, time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// probeAll probes every dependency once and tells whether all are up.
func (m *Monitor) probeAll(ctx context.Context) bool {
	var wg sync.WaitGroup
	for i, d := range m.o.Dependencies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, m.o.Timeout)
			err := d.Probe(pctx)
			cancel()
			if ctx.Err() != nil {
				return // shutting down: not an outage
			}
			m.record(i, err)
		}()
	}
	wg.Wait()
	for _, s := range m.Status() {
		if !s.Up {
			return false
		}
	}
	return true
}

func (m *Monitor) record(i int, err error) {
	now, up := time.Now(), err == nil
	m.mu.Lock()
	s := &m.status[i]
	first := s.Checked.IsZero()
	changed := first || s.Up != up
	if changed {
		s.Since = now
	}
	s.Up, s.Checked = up, now
	m.mu.Unlock()
	if m.o.Report != nil {
		m.o.Report(s.Name, up)
	}
	switch {
	case !up && first:
		// At start the IdP's discovery may still be under way: not yet a
		// warning (discovery and the store warn of their own failures).
		m.o.Logger.Info("dependency not up yet", slog.String("dep", s.Name), slog.String("error", err.Error()))
	case !up && changed:
		// The error text may name internal addresses: the log only.
		m.o.Logger.Warn("dependency down", slog.String("dep", s.Name), slog.String("error", err.Error()))
	case up && changed:
		m.o.Logger.Info("dependency up", slog.String("dep", s.Name))
	}
}

// Status is every dependency's last known state, in the order given.
func (m *Monitor) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Status(nil), m.status...)
}
