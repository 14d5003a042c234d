// Package logbuf buffers log lines on their way to an io.Writer, so that a
// busy server pays one write syscall per buffer instead of one per line.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// Defaults for the zero Options.
const (
	DefaultSize     = 64 << 10
	DefaultInterval = time.Second
)

// Options tune a Writer; zero values take the defaults.
type Options struct {
	// Size is how many bytes are buffered before they are written out.
	Size int
	// Interval bounds how long a line waits in the buffer.
	Interval time.Duration
}

// Writer collects whole lines (one Write call each) and writes them to its
// destination when the buffer is full, when the oldest line has waited
// Interval, on Flush and on Close. A Write is never split across two writes
// to the destination, and lines reach it in the order their Writes returned.
//
// A full buffer is not dropped: the Write that finds it full writes it out
// itself, and Writes that find the next buffer full too wait for that write.
// A slow destination therefore slows the writers down rather than losing
// lines. It is safe for concurrent use.
type Writer struct {
	out      io.Writer
	size     int
	interval time.Duration

	// flushMu is held while a buffer is written out, so buffers reach out
	// in order and at most one full buffer waits beside the one being
	// filled. Lock order: flushMu, then mu.
	flushMu sync.Mutex
	spare   []byte // the empty second buffer; guarded by flushMu
	err     error  // the first error out returned; guarded by flushMu

	mu     sync.Mutex
	buf    []byte
	timer  *time.Timer // flushes Interval after the first line of a buffer
	armed  bool        // timer is pending
	closed bool        // after Close, Writes go straight to out
}

// New returns a Writer that buffers lines for out.
func New(out io.Writer, o Options) *Writer {
	if o.Size <= 0 {
		o.Size = DefaultSize
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	return &Writer{
		out:      out,
		size:     o.Size,
		interval: o.Interval,
		buf:      make([]byte, 0, o.Size),
		spare:    make([]byte, 0, o.Size),
	}
}

// Write buffers p, which should be one whole line. It returns an error only
// when it had to write to the destination itself and that failed.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if !w.closed && len(w.buf)+len(p) <= w.size {
		w.appendLocked(p)
		w.mu.Unlock()
		return len(p), nil
	}
	w.mu.Unlock()
	return w.writeFull(p)
}

// appendLocked adds p to the buffer and makes sure a timer will flush it.
func (w *Writer) appendLocked(p []byte) {
	w.buf = append(w.buf, p...)
	if w.armed {
		return
	}
	w.armed = true
	if w.timer == nil {
		w.timer = time.AfterFunc(w.interval, w.onTimer)
	} else {
		w.timer.Reset(w.interval)
	}
}

// writeFull is Write's slow path: p does not fit. It writes the buffer out
// (waiting for a write already under way) and buffers p in the fresh one,
// or writes p straight through when it is larger than a buffer or the
// Writer is closed.
func (w *Writer) writeFull(p []byte) (int, error) {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	if !w.closed && len(w.buf)+len(p) <= w.size {
		// Someone else wrote the buffer out while this Write waited.
		w.appendLocked(p)
		w.mu.Unlock()
		return len(p), nil
	}
	full := w.swapLocked()
	direct := w.closed || len(p) > w.size
	if !direct {
		w.appendLocked(p)
	}
	w.mu.Unlock()
	err := w.writeOut(full)
	if direct {
		if err2 := w.writeOut(p); err == nil {
			err = err2
		}
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// swapLocked takes the filled buffer and puts the empty spare in its place.
// Callers hold flushMu and mu and give the buffer back through writeOut.
func (w *Writer) swapLocked() []byte {
	full := w.buf
	w.buf = w.spare
	w.spare = nil
	return full
}

// writeOut writes b to the destination and keeps it as the spare buffer.
// Callers hold flushMu.
func (w *Writer) writeOut(b []byte) error {
	var err error
	if len(b) > 0 {
		_, err = w.out.Write(b)
		if err != nil && w.err == nil {
			w.err = err
		}
	}
	w.spare = b[:0]
	return err
}

func (w *Writer) onTimer() {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	w.armed = false
	full := w.swapLocked()
	w.mu.Unlock()
	_ = w.writeOut(full) // kept in w.err for Flush and Close
}

// Flush writes out what is buffered. It returns the first error the
// destination has returned so far.
func (w *Writer) Flush() error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	full := w.swapLocked()
	w.mu.Unlock()
	_ = w.writeOut(full)
	return w.err
}

// Close flushes the buffer and stops buffering: later Writes (a handler
// still running after a forced shutdown) go straight to the destination, so
// nothing is left waiting in a buffer nobody will flush. It does not close
// the destination, and returns the first error the destination returned.
func (w *Writer) Close() error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.armed = false
	full := w.swapLocked()
	w.mu.Unlock()
	_ = w.writeOut(full)
	return w.err
}
