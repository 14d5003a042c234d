// Package bufpool lends fixed-size byte buffers, so a busy proxy does not
// allocate a copy or scan buffer per response.
package bufpool

import (
	"sync"
	"unsafe"
)

// Pool lends buffers of one size. Its Get and Put fit
// httputil.BufferPool, and neither allocates once the pool holds buffers.
type Pool struct {
	size int
	// p holds the first byte of each buffer, not the slice: putting a slice
	// into a sync.Pool boxes its header, one allocation per Put. Every
	// pointer in p starts at least size bytes of one allocation, so Get can
	// rebuild the slice from it.
	p sync.Pool
}

// New returns a pool of size-byte buffers.
func New(size int) *Pool { return &Pool{size: size} }

// Get returns a buffer of len size.
func (b *Pool) Get() []byte {
	if p, ok := b.p.Get().(*byte); ok {
		return unsafe.Slice(p, b.size)
	}
	return make([]byte, b.size)
}

// Put gives buf back for reuse. A caller may put back a buffer that grew by
// appending; one that grew past twice the size is let go instead of pinning
// its memory, and one too small to serve is dropped.
func (b *Pool) Put(buf []byte) {
	if c := cap(buf); c < b.size || c > 2*b.size {
		return
	}
	b.p.Put(unsafe.SliceData(buf))
}
