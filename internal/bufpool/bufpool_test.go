package bufpool

import (
	"net/http/httputil"
	"testing"
)

var _ httputil.BufferPool = (*Pool)(nil)

func TestGetPutDoNotAllocate(t *testing.T) {
	p := New(32 << 10)
	p.Put(p.Get())
	// Under -race sync.Pool drops a quarter of Puts, so some Gets allocate;
	// AllocsPerRun's whole-number average still reads 0 then, while a Put
	// that boxed a slice header would read at least 1.
	if n := testing.AllocsPerRun(100, func() { p.Put(p.Get()) }); n != 0 {
		t.Fatalf("Get+Put allocates %v times", n)
	}
}

func TestPut(t *testing.T) {
	const size = 1 << 10
	cases := []struct {
		name string
		buf  []byte
		kept bool
	}{
		{"exactly the size", make([]byte, size), true},
		{"emptied, capacity intact", make([]byte, size)[:0], true},
		{"grown by appending, up to twice the size", make([]byte, 0, 2*size), true},
		{"grown past twice the size", make([]byte, 0, 2*size+1), false},
		{"too small to serve", make([]byte, size-1), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := New(size)
			first := &tc.buf[:1][0]
			// sync.Pool may drop what it is given (a quarter of it under
			// -race), so a kept buffer is looked for over several rounds.
			reused := false
			for range 20 {
				p.Put(tc.buf)
				got := p.Get()
				if len(got) != size {
					t.Fatalf("Get returned %d bytes, want %d", len(got), size)
				}
				reused = reused || &got[0] == first
			}
			if reused != tc.kept {
				t.Fatalf("buffer reused = %v, want %v", reused, tc.kept)
			}
		})
	}
}
