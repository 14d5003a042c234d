package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSleepCommand: the chart's preStop hook waits the duration it is
// given, refuses anything that is not one, and ends early when the hook
// itself is cancelled.
func TestSleepCommand(t *testing.T) {
	run := func(ctx context.Context, args ...string) error {
		return run(ctx, append([]string{"sleep"}, args...), os.Getenv, io.Discard, io.Discard)
	}
	start := time.Now()
	if err := run(context.Background(), "50ms"); err != nil {
		t.Fatalf("sleep 50ms: %v", err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("sleep 50ms returned after %s", waited)
	}
	for _, args := range [][]string{{}, {"5"}, {"-1s"}, {"1s", "2s"}} {
		err := run(context.Background(), args...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "sleep") {
			t.Errorf("sleep %q: %v, want a usage error", args, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, "1h") }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("cancelled sleep: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sleep 1h ignored its cancelled context")
	}
}
