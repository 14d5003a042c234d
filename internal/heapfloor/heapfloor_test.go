package heapfloor

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// These tests change the process's GC percent, so none runs in parallel.

func read(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func gogc() uint64 { return read("/gc/gogc:percent") }

// collectUntil runs collections (each lets the tuner's cleanup run) until
// ok holds, for at most a few seconds.
func collectUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after collections for 5s (GOGC %d, heap goal %d, live %d)",
				what, gogc(), read("/gc/heap/goal:bytes"), read("/gc/heap/live:bytes"))
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func noEnv(string) string { return "" }

func TestSmallHeapWaitsForMin(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	const min = 64 << 20
	Start(ctx, min, noEnv)
	collectUntil(t, "heap goal near 64 MiB", func() bool {
		goal := read("/gc/heap/goal:bytes")
		return goal >= min*9/10 && goal <= min*11/10
	})
	if g := gogc(); g <= 100 {
		t.Errorf("GOGC = %d with a small live heap, want above 100", g)
	}

	cancel()
	collectUntil(t, "GOGC back to 100 after ctx ends", func() bool { return gogc() == 100 })
}

func TestLargeHeapPacedAsGOGC100(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		collectUntil(t, "GOGC back to 100 after ctx ends", func() bool { return gogc() == 100 })
	}()
	const min = 8 << 20
	Start(ctx, min, noEnv)
	// A live heap twice min: the floor has nothing to add.
	live := make([]*[1024]byte, 2*min/1024)
	for i := range live {
		live[i] = new([1024]byte)
	}
	collectUntil(t, "GOGC 100 above the floor", func() bool { return gogc() == 100 })
	if goal := read("/gc/heap/goal:bytes"); goal < 2*min {
		t.Errorf("heap goal %d with %d live, want at least twice the live heap", goal, 2*min)
	}
	runtime.KeepAlive(live)
}

func TestOperatorsGOGCWins(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	Start(ctx, 64<<20, func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if g := gogc(); g != 100 {
		t.Errorf("GOGC = %d with GOGC set in the environment, want the runtime's 100 untouched", g)
	}
}
