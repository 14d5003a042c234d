// Package heapfloor gives Go's garbage collector a minimum heap goal.
//
// A proxy's live heap is small (about a megabyte: the configuration,
// metrics, compiled patterns, the session cache) while every request leaves
// a few kilobytes of garbage, so with Go's default pacing (GOGC=100, a goal
// of twice the live heap and at least 4 MB) the collector runs every few
// hundred requests and marks the same live heap each time: about a sixth of
// the instructions a small proxied response costs. Letting the heap reach a
// floor before a collection (and twice the live heap above it, as GOGC=100
// would) makes collections rarer without changing how a large heap is paced.
package heapfloor

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// DefaultMin is the heap goal below which the collector waits: half as many
// collections as Go's 4 MB minimum, small next to the 64 MiB the Kubernetes
// examples request. A larger floor saves more collections but spreads the
// allocations over more memory than the caches keep (callgrind's cache
// simulation, 2026-12-06: at 16 MiB 5k fewer instructions per request
// than at 8, and three times the last-level cache misses).
const DefaultMin = 8 << 20

// gogcDefault is the runtime's own GOGC, and runtimeHeapMinimum the heap
// goal it never goes below at that GOGC (scaled with GOGC: the runtime's
// defaultHeapMinimum).
const (
	gogcDefault        = 100
	runtimeHeapMinimum = 4 << 20
)

// Start keeps the collector's heap goal at least floor bytes until ctx ends,
// when it hands pacing back to GOGC=100. After each collection it sets GOGC
// from the live heap it measured, so that the next goal is the larger of floor
// and GOGC=100's. It does nothing when getenv("GOGC") is set: an operator's
// pacing wins (GOMEMLIMIT, set or not, still caps the heap either way).
//
// The GC percent is process-wide: one Start per process (the serve
// command's main), not one per proxy.
func Start(ctx context.Context, floor uint64, getenv func(string) string) {
	if getenv("GOGC") != "" || floor == 0 {
		return
	}
	t := &tuner{ctx: ctx, min: floor, last: gogcDefault, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/scan/globals:bytes"},
	}}
	t.adjust()
	t.arm()
}

type tuner struct {
	ctx     context.Context
	min     uint64
	last    int
	samples []metrics.Sample
}

// sentinel is allocated on its own (it holds a pointer, so the tiny
// allocator does not batch it) and unreachable at once: its cleanup runs
// after the next collection, and re-arms with a new one.
type sentinel struct {
	_ *int
	_ [8]byte
}

func (t *tuner) arm() {
	runtime.AddCleanup(new(sentinel), func(t *tuner) {
		if t.ctx.Err() != nil {
			debug.SetGCPercent(gogcDefault)
			return
		}
		t.adjust()
		t.arm()
	}, t)
}

// adjust sets GOGC for the next cycle. The runtime's goal is the larger of
// live + (live + stacks + globals) × GOGC/100 and its heap minimum, 4 MiB ×
// GOGC/100; the smaller GOGC that lifts either term to min puts the goal
// at min.
func (t *tuner) adjust() {
	metrics.Read(t.samples)
	live, stacks, globals := t.samples[0].Value.Uint64(), t.samples[1].Value.Uint64(), t.samples[2].Value.Uint64()
	pct := gogcDefault
	if base := live + stacks + globals; base > 0 && live < t.min {
		byMinimum := t.min * 100 / runtimeHeapMinimum
		byLive := (t.min - live) * 100 / base
		pct = max(pct, int(min(byMinimum, byLive)))
	}
	// Small changes are not worth the heap lock SetGCPercent takes.
	if d := pct - t.last; d > t.last/16 || -d > t.last/16 {
		debug.SetGCPercent(pct)
		t.last = pct
	}
}
