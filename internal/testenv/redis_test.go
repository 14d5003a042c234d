package testenv

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStartRedis(t *testing.T) {
	r := StartRedis(t)
	if _, err := r.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Do("GET", "k"); err != nil || v != "v" {
		t.Fatalf("GET k = %q, %v", v, err)
	}
	r.Restart()
	if v, err := r.Do("GET", "k"); err != nil || v != "" {
		t.Fatalf("after restart GET k = %q, %v; want an empty server", v, err)
	}
	r.Stop()
	if _, err := r.Do("PING"); err == nil {
		t.Fatal("PING answered after Stop")
	}
}

func TestStartRedisCluster(t *testing.T) {
	t.Parallel()
	c := StartRedisCluster(t)
	if len(c.Addrs()) != 3 {
		t.Fatalf("addrs %v", c.Addrs())
	}
	for _, n := range c.Nodes {
		if v, err := n.Do("CLUSTER", "INFO"); err != nil || v == "" {
			t.Fatalf("%s: cluster info %q %v", n.Addr, v, err)
		}
	}
}

func TestStartRedisTLS(t *testing.T) {
	r := StartRedisTLS(t, RedisTLSOptions{RequireClientCert: true})
	if !strings.HasPrefix(r.URL(), "rediss://127.0.0.1:") {
		t.Fatalf("URL %s", r.URL())
	}
	if v, err := r.Do("PING"); err != nil || v != "PONG" {
		t.Fatalf("PING over TLS with the client certificate = %q, %v", v, err)
	}
	// The port speaks TLS only, and wants the client certificate.
	if _, err := redisDo(tcpDial(r.Addr), "PING"); err == nil {
		t.Fatal("plain PING answered on the TLS port")
	}
	noCert := r.TLS.Config.Clone()
	noCert.Certificates = nil
	if _, err := redisDo(func() (net.Conn, error) { return tls.Dial("tcp", r.Addr, noCert) }, "PING"); err == nil {
		t.Fatal("PING answered without a client certificate")
	}
}

func TestStartRedisSentinel(t *testing.T) {
	t.Parallel()
	s := StartRedisSentinel(t)
	if len(s.Addrs()) != 3 {
		t.Fatalf("sentinels %v", s.Addrs())
	}
	first, err := s.Primary()
	if err != nil || first != s.Nodes[0] {
		t.Fatalf("primary %v, %v; want the first node", first, err)
	}
	if _, err := first.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.WaitReplicated(t) // a failover before then loses k, by Redis's design
	now := s.Failover(t)
	if now != s.Nodes[1] {
		t.Fatalf("after failover the primary is %s, want the replica %s", now.Addr, s.Nodes[1].Addr)
	}
	if v, err := now.Do("GET", "k"); err != nil || v != "v" {
		t.Fatalf("the new primary has k = %q, %v", v, err)
	}
}

// A SENTINEL FAILOVER that finds no good replica is refused, or gives up
// later without a word (as when a loaded machine lets the replica's INFO go
// stale); Failover asks again until it happens. Priority 0 makes the
// replica unfit until it is set back.
func TestSentinelFailoverAsksAgainUntilAReplicaIsFit(t *testing.T) {
	t.Parallel()
	s := StartRedisSentinel(t)
	replica := s.Nodes[1]
	// Priority 0: never to be promoted, so the first request is refused.
	if _, err := replica.Do("CONFIG", "SET", "replica-priority", "0"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sentinel to see priority 0", func() bool {
		m, err := s.Sentinels[0].DoArray("SENTINEL", "REPLICAS", s.MasterName)
		return err == nil && strings.Contains(strings.Join(m, " "), "slave-priority 0")
	})
	restored := make(chan error, 1)
	go func() {
		// Past the first request, sent within milliseconds of Failover's
		// start. Sentinel keeps no count of FAILOVER requests to wait on
		// instead; were this sleep to end first, the test would pass
		// without the retry, never fail for it.
		time.Sleep(time.Second)
		_, err := replica.Do("CONFIG", "SET", "replica-priority", "100")
		restored <- err
	}()
	now := s.Failover(t)
	if err := <-restored; err != nil {
		t.Fatal(err)
	}
	if now != replica {
		t.Fatalf("after failover the primary is %s, want the replica %s", now.Addr, replica.Addr)
	}
}
