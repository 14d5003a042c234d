package config

import (
	"testing"
	"time"
)

// Messages quote defaults and bounds the way the keys are written.
func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute: "1m", 10 * time.Minute: "10m", 12 * time.Hour: "12h", time.Hour: "1h",
		30 * time.Second: "30s", 2 * time.Second: "2s", 90 * time.Minute: "1h30m", 61 * time.Second: "1m1s",
		1500 * time.Millisecond: "1.5s", 0: "0s",
	} {
		if got := DurationText(d); got != want {
			t.Errorf("DurationText(%s) = %q, want %q", d, got, want)
		}
	}
}
