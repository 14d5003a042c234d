package testenv

import (
	"testing"
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
