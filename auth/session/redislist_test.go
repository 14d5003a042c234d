package session

import (
	"context"
	"fmt"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// On Redis Cluster the records lie on every master: listing everyone scans
// each node (replicas repeat keys; each session is listed once), and a
// subject's listing reads records of many slots.
func TestRedisStoreListOnCluster(t *testing.T) {
	c := testenv.StartRedisCluster(t)
	s := newRedisStore(t, config.Redis{Addrs: c.Addrs()})
	const n = 1200 // more than two batches
	for i := range n {
		sess := typicalSession()
		sess.Subject = fmt.Sprintf("user-%d", i%3)
		sess.SID = fmt.Sprintf("sid-%d", i)
		saveRedis(t, s, sess)
	}
	all, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	sids := map[string]bool{}
	for _, in := range all {
		sids[in.SID] = true
	}
	if len(all) != n || len(sids) != n {
		t.Errorf("listed %d sessions (%d distinct), want %d", len(all), len(sids), n)
	}
	mine, err := s.List(context.Background(), "user-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != n/3 {
		t.Errorf("user-1: %d sessions, want %d", len(mine), n/3)
	}
}
