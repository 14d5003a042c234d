//go:build !unix

package h1transport

// Supported reports whether this platform can check an idle pooled
// connection before reuse: without a non-blocking peek it cannot, so callers
// use the standard Transport alone.
const Supported = false

func peekEmpty(uintptr) bool { return false }
