//go:build unix

package h1transport

import "syscall"

// Supported reports whether this platform can check an idle pooled
// connection before reuse (a non-blocking peek); callers use the standard
// Transport alone where it cannot.
const Supported = true

// peekEmpty reports whether the socket is open with nothing to read.
func peekEmpty(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
}
