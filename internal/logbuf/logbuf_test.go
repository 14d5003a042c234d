package logbuf

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a destination that remembers each Write separately. With a
// gate, every Write waits for a value from it (a slow disk or log pipe).
type recorder struct {
	gate chan struct{}
	err  error

	mu     sync.Mutex
	writes []string
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, string(p))
	if r.err != nil {
		return 0, r.err
	}
	return len(p), nil
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func write(t *testing.T, w *Writer, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if n, err := w.Write([]byte(l)); err != nil || n != len(l) {
			t.Fatalf("Write(%q) = %d, %v", l, n, err)
		}
	}
}

func wantWrites(t *testing.T, r *recorder, want ...string) {
	t.Helper()
	if got := r.got(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("destination got writes %q, want %q", got, want)
	}
}

const never = time.Hour

func TestLinesWaitForFlushOrClose(t *testing.T) {
	for _, end := range []struct {
		name string
		call func(*Writer) error
	}{
		{"flush", (*Writer).Flush},
		{"close", (*Writer).Close},
	} {
		t.Run(end.name, func(t *testing.T) {
			r := &recorder{}
			w := New(r, Options{Interval: never})
			write(t, w, "one\n", "two\n")
			wantWrites(t, r)
			if err := end.call(w); err != nil {
				t.Fatal(err)
			}
			wantWrites(t, r, "one\ntwo\n")
		})
	}
}

func TestFullBufferIsWrittenInOnePiece(t *testing.T) {
	r := &recorder{}
	w := New(r, Options{Size: 10, Interval: never})
	write(t, w, "aaaa\n", "bbbb\n")
	wantWrites(t, r)
	write(t, w, "cc\n")
	wantWrites(t, r, "aaaa\nbbbb\n")
	w.Flush()
	wantWrites(t, r, "aaaa\nbbbb\n", "cc\n")
}

func TestLineLargerThanBufferFollowsEarlierLines(t *testing.T) {
	r := &recorder{}
	w := New(r, Options{Size: 8, Interval: never})
	write(t, w, "ab\n", "0123456789\n", "cd\n")
	wantWrites(t, r, "ab\n", "0123456789\n")
	w.Flush()
	wantWrites(t, r, "ab\n", "0123456789\n", "cd\n")
}

func TestIntervalFlushesEveryBuffer(t *testing.T) {
	r := &recorder{}
	w := New(r, Options{Interval: 10 * time.Millisecond})
	defer w.Close()
	for i, want := range [][]string{{"first\n"}, {"first\n", "second\n"}} {
		write(t, w, fmt.Sprintf("%s\n", []string{"first", "second"}[i]))
		deadline := time.Now().Add(5 * time.Second)
		for len(r.got()) < len(want) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		wantWrites(t, r, want...)
	}
}

func TestWritesAfterCloseGoStraightThrough(t *testing.T) {
	r := &recorder{}
	w := New(r, Options{Interval: never})
	write(t, w, "before\n")
	w.Close()
	write(t, w, "after\n")
	wantWrites(t, r, "before\n", "after\n")
}

func TestSlowDestinationBlocksWritersAndLosesNothing(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	w := New(r, Options{Size: 10, Interval: never})
	write(t, w, "aaaa\n", "bbbb\n") // buffer full
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The first overflow writes "aaaa\nbbbb\n" out and waits at the
		// gate; "cccc\n", "dddd\n" fill the second buffer; "eeee\n"
		// needs the first write to finish.
		write(t, w, "cccc\n", "dddd\n", "eeee\n")
	}()
	select {
	case <-done:
		t.Fatal("writes finished while the destination was stuck: lines were dropped or buffered without bound")
	case <-time.After(50 * time.Millisecond):
	}
	close(r.gate)
	<-done
	w.Close()
	wantWrites(t, r, "aaaa\nbbbb\n", "cccc\ndddd\n", "eeee\n")
}

func TestConcurrentWritersKeepLinesWholeAndInOrder(t *testing.T) {
	r := &recorder{}
	w := New(r, Options{Size: 256, Interval: time.Millisecond})
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				// Lengths vary so buffers fill at odd places.
				l := fmt.Sprintf("g%d %d %s\n", g, i, strings.Repeat("x", i%40))
				if _, err := w.Write([]byte(l)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	w.Close()
	next := make([]int, writers)
	for _, chunk := range r.got() {
		if !strings.HasSuffix(chunk, "\n") {
			t.Fatalf("a write to the destination ends mid-line: %q", chunk)
		}
		for _, l := range strings.Split(strings.TrimSuffix(chunk, "\n"), "\n") {
			var g, i int
			if _, err := fmt.Sscanf(l, "g%d %d", &g, &i); err != nil || g < 0 || g >= writers {
				t.Fatalf("mangled line %q", l)
			}
			if i != next[g] {
				t.Fatalf("writer %d: line %d arrived, want %d", g, i, next[g])
			}
			next[g]++
		}
	}
	for g, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines arrived, want %d", g, n, lines)
		}
	}
}

func TestDestinationErrorsAreReported(t *testing.T) {
	broken := errors.New("disk full")
	r := &recorder{err: broken}
	w := New(r, Options{Size: 4, Interval: never})
	write(t, w, "ab\n")
	if _, err := w.Write([]byte("cd\n")); !errors.Is(err, broken) {
		t.Errorf("Write that wrote the buffer out: %v, want %v", err, broken)
	}
	if err := w.Close(); !errors.Is(err, broken) {
		t.Errorf("Close: %v, want %v", err, broken)
	}
}
