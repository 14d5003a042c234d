package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// sessions list pages through Redis: 20,000 sessions in a real
// redis-server are all listed, and --sub lists exactly that user's 10,000,
// with session.redis.timeout at 200ms. One timeout for the whole listing,
// one GET after another, gave up long before; each batch (SCAN or SSCAN
// page, pipelined GETs) now has its own.
func TestSessionsListPagesThrough20000Sessions(t *testing.T) {
	// 20,000 sessions as the README says; under the race detector, whose
	// seeding alone would take minutes, 2,000: still 4 batches of 500.
	total, users := 20000, 2
	if raceDetector {
		total = 2000
	}
	redis := testenv.StartRedis(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	path := baseConfig(t, "http://127.0.0.1:8080", fmt.Sprintf("session:\n  secret: %s\n  store: redis\n  redis:\n    url: %s\n    timeout: 200ms\n",
		base64.StdEncoding.EncodeToString(secret), redis.URL()))
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	saveSessions(t, cfg, total, users)

	start := time.Now()
	out, _, err := runCmd(t, nil, "sessions", "list", "--config", path, "--json")
	took := time.Since(start)
	if err != nil {
		t.Fatalf("sessions list: %v", err)
	}
	var all []session.Info
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("list --json: %v", err)
	}
	t.Logf("sessions list of %d sessions took %s", len(all), took)
	if len(all) != total {
		t.Errorf("listed %d sessions, want %d", len(all), total)
	}
	perUser := map[string]int{}
	for _, in := range all {
		perUser[in.Subject]++
	}
	if len(perUser) != users || perUser["user-1"] != total/users {
		t.Errorf("subjects listed: %d users, user-1 has %d; want %d users of %d sessions", len(perUser), perUser["user-1"], users, total/users)
	}

	out, _, err = runCmd(t, nil, "sessions", "list", "--config", path, "--sub", "user-1", "--json")
	if err != nil {
		t.Fatalf("sessions list --sub: %v", err)
	}
	var mine []session.Info
	if err := json.Unmarshal([]byte(out), &mine); err != nil {
		t.Fatalf("list --sub --json: %v", err)
	}
	if len(mine) != total/users {
		t.Errorf("--sub user-1 listed %d sessions, want %d", len(mine), total/users)
	}
}

// saveSessions stores n sessions of users subjects as the proxy would
// (through the store's Save, several at once).
func saveSessions(t *testing.T, cfg *config.Config, n, users int) {
	t.Helper()
	codec, err := session.NewCodec(cfg.Session.Keys)
	if err != nil {
		t.Fatal(err)
	}
	// Seeding is not what is measured: a generous timeout keeps a loaded
	// machine from failing it; the listing keeps the config's 200ms.
	seed := cfg.Session
	seed.Redis.Timeout = config.Duration(10 * time.Second)
	store, closeStore, err := session.New(seed, codec, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	const workers = 16
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				now := time.Now()
				sess := &session.Session{Subject: fmt.Sprintf("user-%d", i%users), Expiry: now.Add(time.Hour), CreatedAt: now, SID: fmt.Sprintf("sid-%d", i)}
				if err := store.Save(httptest.NewRecorder(), httptest.NewRequest("GET", "https://shop.example.com/_lcw/callback", nil), sess); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("save: %v", err)
	default:
	}
}
