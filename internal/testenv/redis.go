package testenv

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Redis is a real redis-server (Debian's package, Redis 7) on a loopback
// port, owned by one test.
type Redis struct {
	Addr string // 127.0.0.1:port (the TLS port of a TLS server)
	// TLS is set for a server started by StartRedisTLS: its clients' files
	// and configuration.
	TLS  *RedisTLS
	dir  string
	args []string
	cmd  *exec.Cmd
	t    testing.TB
}

// URL is the redis:// URL of the server, for session.redis.url.
func (r *Redis) URL() string {
	if r.TLS != nil {
		return "rediss://" + r.Addr
	}
	return "redis://" + r.Addr
}

// redisServerPath finds redis-server: $REDIS_SERVER, else on PATH.
func redisServerPath(t testing.TB) string {
	t.Helper()
	return Tool(t, "redis-server ($REDIS_SERVER or PATH)", "Debian's redis-server package; make services installs it",
		os.Getenv("REDIS_SERVER"), "redis-server", "/usr/bin/redis-server")
}

// StartRedis starts a redis-server with no persistence on a free loopback
// port and stops it when the test ends. extra are more redis-server
// arguments ("--requirepass", "secret"). It skips without redis-server,
// except under CI=true.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	return startRedis(t, freePort(t), extra...)
}

func startRedis(t testing.TB, port int, extra ...string) *Redis {
	t.Helper()
	return startRedisIn(t, &Redis{dir: t.TempDir(), t: t}, port, extra...)
}

// startRedisIn starts r, whose dir (and TLS, when set) are filled in.
func startRedisIn(t testing.TB, r *Redis, port int, extra ...string) *Redis {
	t.Helper()
	bin := redisServerPath(t)
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	r.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no", "--logfile", filepath.Join(r.dir, "redis.log")}, extra...)
	if r.TLS != nil { // the plain port off, the port TLS only
		r.args = append(r.args, "--port", "0", "--tls-port", strconv.Itoa(port))
	}
	r.cmd = r.start(bin)
	t.Cleanup(r.Stop)
	return r
}

func (r *Redis) start(bin string) *exec.Cmd {
	r.t.Helper()
	cmd := exec.Command(bin, r.args...)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("testenv: start redis-server: %v", err)
	}
	go func() { _ = cmd.Wait() }()
	if err := waitRedis(r.dial, 10*time.Second); err != nil {
		_ = cmd.Process.Kill()
		log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
		r.t.Fatalf("testenv: redis-server on %s did not come up: %v\n%s", r.Addr, err, log)
	}
	return cmd
}

// Stop kills the server (as a crash or a network loss would look to its
// clients); Restart brings it back on the same port, empty.
func (r *Redis) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		for i := 0; i < 200; i++ { // until the port is free again
			c, err := net.DialTimeout("tcp", r.Addr, 50*time.Millisecond) // TCP only: TLS or not, the port is taken
			if err != nil {
				break
			}
			c.Close()
			time.Sleep(10 * time.Millisecond)
		}
		r.cmd = nil
	}
}

// Restart starts the server again on the same port, with no data.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Stop()
	r.cmd = r.start(redisServerPath(r.t))
}

// Do sends one command with redis-cli-free RESP and returns the reply line
// (first line only; enough for tests that look at keys and TTLs).
func (r *Redis) Do(args ...string) (string, error) {
	return redisDo(r.dial, args...)
}

// dial connects to the server, over TLS (with the client certificate)
// when it is a TLS server.
func (r *Redis) dial() (net.Conn, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	if r.TLS != nil {
		return tls.DialWithDialer(d, "tcp", r.Addr, r.TLS.Config)
	}
	return d.Dial("tcp", r.Addr)
}

// tcpDial dials addr without TLS.
func tcpDial(addr string) func() (net.Conn, error) {
	return func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 2*time.Second) }
}

// send dials, writes one command and returns the connection (for the
// caller to close) and a reader of its reply.
func send(dial func() (net.Conn, error), args ...string) (net.Conn, *bufio.Reader, error) {
	c, err := dial()
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, bufio.NewReader(c), nil
}

func redisDo(dial func() (net.Conn, error), args ...string) (string, error) {
	c, rd, err := send(dial, args...)
	if err != nil {
		return "", err
	}
	defer c.Close()
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("redis: %s", line[1:])
	case strings.HasPrefix(line, "$"):
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return line[1:], nil
}

func waitRedis(dial func() (net.Conn, error), within time.Duration) error {
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		var pong string
		if pong, err = redisDo(dial, "PING"); err == nil && pong == "PONG" {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// RedisCluster is a 3-node Redis Cluster (masters only) on loopback.
type RedisCluster struct {
	Nodes []*Redis
}

// Addrs are the nodes' addresses, for session.redis.addrs.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// StartRedisCluster starts three cluster-enabled redis-servers and joins
// them with redis-cli --cluster create (from the same Debian package).
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	c := &RedisCluster{}
	for range 3 {
		c.Nodes = append(c.Nodes, startRedis(t, freeClusterPort(t), "--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
			"--cluster-config-file", "nodes.conf"))
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("testenv: redis-cli not found next to redis-server: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, c.Addrs()...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	// Wait until every node agrees the cluster is up.
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		for {
			info, err := exec.CommandContext(ctx, cli, "-h", "127.0.0.1", "-p", strings.TrimPrefix(n.Addr, "127.0.0.1:"), "cluster", "info").Output()
			if err == nil && strings.Contains(string(info), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("testenv: cluster node %s not ok: %v %s", n.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// DoArray sends one command and returns its reply flattened to strings
// (an array's elements, nested arrays inline; a single value as one
// element), for replies such as SENTINEL's and ROLE.
func (r *Redis) DoArray(args ...string) ([]string, error) {
	c, rd, err := send(r.dial, args...)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return readFlat(rd, nil)
}

// readFlat reads one RESP2 reply and appends its values to out.
func readFlat(rd *bufio.Reader, out []string) ([]string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("redis: empty reply line")
	}
	switch line[0] {
	case '-':
		return nil, fmt.Errorf("redis: %s", line[1:])
	case '*':
		n, _ := strconv.Atoi(line[1:])
		for range max(n, 0) {
			if out, err = readFlat(rd, out); err != nil {
				return nil, err
			}
		}
		return out, nil
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return append(out, ""), nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return append(out, string(buf[:n])), nil
	}
	return append(out, line[1:]), nil
}
