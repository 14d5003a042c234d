package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisSentinel is a primary, its replica and three Sentinels watching
// them (quorum 2), all on loopback ports of one test: Debian's
// redis-sentinel, as a managed "Redis with failover" looks to clients.
type RedisSentinel struct {
	MasterName string
	Nodes      []*Redis // the data nodes; Nodes[0] starts as the primary
	Sentinels  []*Redis
}

// Addrs are the Sentinels' addresses, for session.redis.addrs.
func (s *RedisSentinel) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		out[i] = n.Addr
	}
	return out
}

// redisSentinelPath finds redis-sentinel: $REDIS_SENTINEL, else on PATH.
func redisSentinelPath(t testing.TB) string {
	t.Helper()
	return Tool(t, "redis-sentinel ($REDIS_SENTINEL or PATH)", "Debian's redis-sentinel package; make services installs it",
		os.Getenv("REDIS_SENTINEL"), "redis-sentinel", "/usr/bin/redis-sentinel")
}

// StartRedisSentinel starts the primary, the replica (synced) and the
// Sentinels, and returns once every Sentinel knows the replica and the
// other Sentinels. It skips without redis-sentinel, except under CI=true.
func StartRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	bin := redisSentinelPath(t)
	s := &RedisSentinel{MasterName: "lcwprimary"}
	// Either node serves a full sync (the replica's first, the old
	// primary's after a failover) at once, not after Redis's default 5 s
	// wait for more replicas to share the transfer.
	noDelay := []string{"--repl-diskless-sync-delay", "0"}
	primary := StartRedis(t, noDelay...)
	port := strings.TrimPrefix(primary.Addr, "127.0.0.1:")
	replica := StartRedis(t, append(noDelay, "--replicaof", "127.0.0.1", port)...)
	s.Nodes = []*Redis{primary, replica}
	waitFor(t, "the replica to sync", func() bool {
		info, err := replica.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	for range 3 {
		p := freePort(t)
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		// Sentinel rewrites its file as it learns the topology.
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
			"sentinel monitor %s 127.0.0.1 %s 2\n"+
			"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 10000\nsentinel parallel-syncs %s 1\n",
			p, dir, filepath.Join(dir, "redis.log"), s.MasterName, port, s.MasterName, s.MasterName, s.MasterName)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		n := &Redis{dir: dir, t: t, Addr: "127.0.0.1:" + strconv.Itoa(p), args: []string{conf}}
		n.cmd = n.start(bin)
		t.Cleanup(n.Stop)
		// A Sentinel reads each node's INFO every 10 s and says hello to
		// its peers every 2 s; it turns an old primary that came back into
		// a replica only after four hello periods. SENTINEL DEBUG (Redis 7)
		// shortens both, so a test waits a second or two for what would
		// take ten. Not the INFO period below a second: a Sentinel turns
		// the old primary into a replica only while the new primary's last
		// INFO is under two periods old, a window a loaded machine kept
		// missing at 200 ms (the old primary stayed a primary for a minute).
		waitFor(t, "sentinel "+n.Addr+" to start", func() bool {
			_, err := n.Do("SENTINEL", "DEBUG", "info-period", "1000", "publish-period", "200")
			return err == nil
		})
		s.Sentinels = append(s.Sentinels, n)
	}
	for _, n := range s.Sentinels {
		waitFor(t, "sentinel "+n.Addr+" to see the replica and its peers", func() bool {
			m, err := n.DoArray("SENTINEL", "MASTER", s.MasterName)
			return err == nil && field(m, "num-slaves") == "1" && field(m, "num-other-sentinels") == "2"
		})
	}
	return s
}

// Primary is the data node the Sentinels name as primary now.
func (s *RedisSentinel) Primary() (*Redis, error) {
	a, err := s.Sentinels[0].DoArray("SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
	if err != nil || len(a) != 2 {
		return nil, fmt.Errorf("get-master-addr-by-name: %q %v", a, err)
	}
	for _, n := range s.Nodes {
		if n.Addr == a[0]+":"+a[1] {
			return n, nil
		}
	}
	return nil, fmt.Errorf("the sentinels name %s:%s, not a node of ours", a[0], a[1])
}

// Failover makes the replica the primary (SENTINEL FAILOVER) and returns
// the new primary once every Sentinel names it, it takes writes, and the
// old primary is its replica.
func (s *RedisSentinel) Failover(t testing.TB) *Redis {
	t.Helper()
	old, err := s.Primary()
	if err != nil {
		t.Fatal(err)
	}
	// SENTINEL FAILOVER refuses (-NOGOODSLAVE) or, having accepted, gives
	// up quietly (failover-abort-no-good-slave) when no replica looks good
	// enough at that moment: one whose last INFO is older than five info
	// periods is not, which a loaded machine lets happen. Unlike an
	// automatic failover it is not tried again. So ask again while the
	// Sentinel that leads it still names the old primary, as an operator
	// would (once it names the new one, asking again would fail back);
	// -INPROG means the last request is still under way.
	ask := func() {
		if p, err := s.Primary(); err != nil || p != old {
			return
		}
		_, err := s.Sentinels[0].Do("SENTINEL", "FAILOVER", s.MasterName)
		if err != nil && !strings.Contains(err.Error(), "INPROG") && !strings.Contains(err.Error(), "NOGOODSLAVE") {
			t.Fatalf("testenv: SENTINEL FAILOVER: %v", err)
		}
	}
	ask()
	now := s.waitNewPrimary(t, old, ask)
	// Until the Sentinels turn the old primary into a replica it still
	// takes writes, which the resync then drops (Redis replication is
	// asynchronous; SENTINEL FAILOVER does not pause the old primary):
	// return once that window is closed.
	waitFor(t, "the old primary to become a replica", func() bool {
		role, err := old.DoArray("ROLE")
		return err == nil && len(role) > 0 && role[0] == "slave"
	})
	return now
}

// KillPrimary kills the primary (a crash) and returns the replica once the
// Sentinels agreed it is down (quorum 2, after a second without answers),
// elected a leader and promoted the replica.
func (s *RedisSentinel) KillPrimary(t testing.TB) *Redis {
	t.Helper()
	old, err := s.Primary()
	if err != nil {
		t.Fatal(err)
	}
	old.Stop()
	return s.waitNewPrimary(t, old, nil) // the Sentinels retry by themselves
}

// waitNewPrimary waits until every Sentinel names a primary other than old
// and it says it is one, calling retry (when set) every few seconds until
// then. When the test fails, here or later (an old primary that stays
// one), it prints the Sentinels' logs: what they decided, and when.
func (s *RedisSentinel) waitNewPrimary(t testing.TB, old *Redis, retry func()) *Redis {
	t.Helper()
	var now *Redis
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range s.Sentinels {
				b, _ := os.ReadFile(filepath.Join(n.dir, "redis.log"))
				t.Logf("sentinel %s log:\n%s", n.Addr, b)
			}
		}
	})
	nextRetry := time.Now().Add(3 * time.Second)
	waitFor(t, "the failover to finish", func() bool {
		if retry != nil && time.Now().After(nextRetry) {
			retry()
			nextRetry = time.Now().Add(3 * time.Second)
		}
		for _, n := range s.Sentinels {
			a, err := n.DoArray("SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
			if err != nil || len(a) != 2 || a[0]+":"+a[1] == old.Addr {
				return false
			}
		}
		var err error
		if now, err = s.Primary(); err != nil {
			return false
		}
		role, err := now.DoArray("ROLE")
		return err == nil && len(role) > 0 && role[0] == "master"
	})
	return now
}

// field is the value after name in a flat name/value reply.
func field(kv []string, name string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == name {
			return kv[i+1]
		}
	}
	return ""
}

// waitFor polls cond until it holds, failing the test after a generous
// bound (a hung server, not a slow one).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: waited a minute for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitReplicated waits until the replica holds as many keys as the primary:
// replication is asynchronous, and a failover before it would lose writes
// by design, not by a fault of the store.
func (s *RedisSentinel) WaitReplicated(t testing.TB) {
	t.Helper()
	primary, replica := s.Nodes[0], s.Nodes[1]
	waitFor(t, "the replica to catch up with the primary", func() bool {
		want, _ := primary.Do("DBSIZE")
		got, _ := replica.Do("DBSIZE")
		return want == got
	})
}
