package testenv

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// ClosedAddr refuses connections, and its port is not handed to anyone
// else meanwhile: neither a listener that asks for it nor one the kernel
// picks.
func TestClosedAddrStaysClosed(t *testing.T) {
	addr := ClosedAddr(t)
	refused := func() {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			t.Fatalf("dial %s: connected, want refused", addr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial %s: %v, want connection refused", addr, err)
		}
	}
	refused()
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("a listener took %s", addr)
	}
	for range 200 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		got := ln.Addr().String()
		ln.Close()
		if got == addr {
			t.Fatalf("the kernel handed %s to a :0 listener", addr)
		}
	}
	refused()
}
