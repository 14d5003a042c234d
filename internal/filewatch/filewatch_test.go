package filewatch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseUpper accepts content without "bad" and upper-cases it; it counts
// its calls so the test can tell a reload from a skipped one.
type parseUpper struct{ calls int }

func (p *parseUpper) parse(contents [][]byte) (string, error) {
	p.calls++
	var parts []string
	for _, c := range contents {
		if strings.Contains(string(c), "bad") {
			return "", fmt.Errorf("%q does not parse", c)
		}
		parts = append(parts, strings.ToUpper(string(c)))
	}
	return strings.Join(parts, "+"), nil
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write := func(path, content string) func(t *testing.T) {
		return func(t *testing.T) {
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(a, "one")(t)
	write(b, "two")(t)
	p := &parseUpper{}
	v, err := Load(p.parse, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Get(); got != "ONE+TWO" {
		t.Fatalf("loaded %q", got)
	}

	// The steps run in order, each on the files the previous one left.
	steps := []struct {
		name    string
		do      func(t *testing.T)
		changed bool
		err     string // substring; empty: no error
		readErr bool   // the error is the *fs.PathError of reading
		parsed  bool   // Check called parse
		value   string
	}{
		{"nothing touched", func(*testing.T) {}, false, "", false, false, "ONE+TWO"},
		{"same content rewritten later", func(t *testing.T) {
			write(a, "one")(t)
			later := time.Now().Add(time.Hour)
			os.Chtimes(a, later, later)
		}, false, "", false, false, "ONE+TWO"},
		{"content changed", write(b, "three"), true, "", false, true, "ONE+THREE"},
		{"the same bytes split differently between the files", func(t *testing.T) { write(a, "onethr")(t); write(b, "ee")(t) }, true, "", false, true, "ONETHR+EE"},
		{"new content that does not parse keeps the value", write(a, "bad"), true, `"bad" does not parse`, false, true, "ONETHR+EE"},
		{"the same bad content again: error kept, not parsed again", write(a, "bad"), false, `"bad" does not parse`, false, false, "ONETHR+EE"},
		{"unreadable file keeps the value", func(t *testing.T) { os.Remove(a) }, false, "no such file", true, false, "ONETHR+EE"},
		{"the bad content back: still remembered", write(a, "bad"), false, `"bad" does not parse`, false, false, "ONETHR+EE"},
		{"the loaded content back: nothing to do", write(a, "onethr"), false, "", false, false, "ONETHR+EE"},
		{"fixed content loads", write(a, "four"), true, "", false, true, "FOUR+EE"},
		{"bad content after a good load is new again", write(a, "bad"), true, `"bad" does not parse`, false, true, "FOUR+EE"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			before := p.calls
			changed, err := v.Check()
			if changed != s.changed {
				t.Errorf("changed = %v, want %v", changed, s.changed)
			}
			switch {
			case s.err == "" && err != nil:
				t.Errorf("error = %v, want none", err)
			case s.err != "" && (err == nil || !strings.Contains(err.Error(), s.err)):
				t.Errorf("error = %v, want it to contain %q", err, s.err)
			}
			if isRead := errors.As(err, new(*fs.PathError)); isRead != s.readErr {
				t.Errorf("error %v: *fs.PathError = %v, want %v", err, isRead, s.readErr)
			}
			if parsed := p.calls > before; parsed != s.parsed {
				t.Errorf("parsed = %v, want %v", parsed, s.parsed)
			}
			if got := v.Get(); got != s.value {
				t.Errorf("value = %q, want %q", got, s.value)
			}
		})
	}
}

func TestLoadFails(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	os.WriteFile(good, []byte("ok"), 0o600)
	os.WriteFile(bad, []byte("bad"), 0o600)
	p := &parseUpper{}
	if _, err := Load(p.parse, good, filepath.Join(dir, "missing")); !errors.As(err, new(*fs.PathError)) {
		t.Errorf("missing file: error = %v, want the *fs.PathError", err)
	}
	if _, err := Load(p.parse, good, bad); err == nil || !strings.Contains(err.Error(), "does not parse") {
		t.Errorf("bad content: error = %v, want the parse error", err)
	}
}
