//go:build unix

package proxy

import "syscall"

// canPeek: idle pooled connections can be checked, so directTransport is used.
const canPeek = true

// peekEmpty reports whether the socket is open with nothing to read.
func peekEmpty(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
}
