package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Tool returns the first of candidates (a path, or a name looked up on
// PATH; empty ones, such as an unset $VAR, are passed over) that exists.
// Without one the test skips on a laptop but fails under CI=true, where
// make test must have installed it. what names the tool and where it was
// looked for; install says how to get it.
func Tool(t testing.TB, what, install string, candidates ...string) string {
	t.Helper()
	if p, ok := firstTool(candidates...); ok {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("testenv: no %s; CI must have installed it (%s)", what, install)
	}
	t.Skipf("testenv: no %s; %s", what, install)
	return ""
}

func firstTool(candidates ...string) (string, bool) {
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if full, err := exec.LookPath(p); err == nil {
			return full, true
		}
	}
	return "", false
}
