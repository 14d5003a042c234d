package testenv

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Ports for servers the tests start as separate processes (redis-server,
// nginx) are picked below the kernel's ephemeral range: a port the
// kernel hands out (to a test's own :0 listener, or as the source port of
// an outgoing connection) can never be taken in the moment between
// choosing a port here and the server binding it.
var (
	portsMu   sync.Mutex
	handedOut = map[int]bool{} // within this test binary
)

// ephemeralLow is the bottom of the kernel's ephemeral port range.
func ephemeralLow() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil && lo > 12000 {
				return lo
			}
		}
	}
	return 32768
}

// freePortBelow returns a port p in [10000, limit) that is free now and was
// not handed out before in this test binary, with p+offset free as well for
// each offset (a Redis Cluster node's bus port is p+10000).
func freePortBelow(t testing.TB, limit int, offsets ...int) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 500 {
		p := 10000 + rand.IntN(limit-10000)
		if handedOut[p] {
			continue
		}
		ok := true
		for _, off := range append([]int{0}, offsets...) {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+off)))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			handedOut[p] = true
			return p
		}
	}
	t.Fatal("testenv: no free port below the ephemeral range")
	return 0
}

// freePort is a free loopback port for a server started as its own
// process.
func freePort(t testing.TB) int { return freePortBelow(t, ephemeralLow()) }

// FreeAddr is a free loopback address (127.0.0.1:port) for a server a test
// starts later, once the address is written into its configuration: picked
// below the ephemeral range like the ports of the servers testenv starts,
// so no outgoing connection's source port can take it meanwhile (a :0
// listener closed again hands out a port the kernel may reuse at once).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
}

// ClosedAddr is a loopback address where connections are refused for the
// rest of the test. A socket bound there without listening holds the port,
// so neither another test's server nor an outgoing connection's source port
// can take it; a :0 listener closed again frees its port at once (a
// parallel test's server once answered at such a "closed" port).
func ClosedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("testenv: socket: %v", err)
	}
	syscall.CloseOnExec(fd)
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("testenv: bind 127.0.0.1:0: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("testenv: getsockname: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// freeClusterPort is a free port whose Redis Cluster bus port (+10000) is
// free as well.
func freeClusterPort(t testing.TB) int { return freePortBelow(t, ephemeralLow()-10000, 10000) }

// waitListening waits until something accepts connections at base's host,
// failing early when the server process has exited.
func waitListening(base string, limit time.Duration, exited <-chan struct{}) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the server exited")
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
