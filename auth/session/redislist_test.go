package session

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// On Redis Cluster the records lie on every master: listing everyone scans
// each node (replicas repeat keys; each session is listed once), and a
// subject's listing reads records of many slots.
func TestRedisStoreListOnCluster(t *testing.T) {
	t.Parallel()
	c := testenv.StartRedisCluster(t)
	s := newRedisStore(t, config.Redis{Addrs: c.Addrs()})
	const n = 1200 // more than two batches
	// Saved several at once, as a proxy's requests do: one at a time
	// would spend most of the test waiting on round trips.
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				sess := typicalSession()
				sess.Subject = fmt.Sprintf("user-%d", i%3)
				sess.SID = fmt.Sprintf("sid-%d", i)
				if err := s.Save(httptest.NewRecorder(), httptest.NewRequest("GET", "https://shop.example.com/_lcw/callback", nil), sess); err != nil {
					t.Errorf("Save: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
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
