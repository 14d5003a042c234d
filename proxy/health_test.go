package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/health"
)

// Readiness is this process's alone: with the IdP never discovered (the
// test deps' issuer does not answer) and every shared dependency down,
// readyz is 200; the verbose view reports the dependencies without
// changing the status. healthz asks nothing at all.
func TestReadyzIgnoresSharedDependencies(t *testing.T) {
	d := newTestDeps(t)
	d.Health = health.New(health.Options{Dependencies: []health.Dependency{
		{Name: "idp", Probe: d.RP.Probe},
		{Name: "redis", Probe: func(context.Context) error { return errors.New("connection refused") }},
	}, Interval: time.Hour, Timeout: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Health.Run(ctx)
	for deadline := time.Now().Add(5 * time.Second); d.Health.Status()[1].Checked.IsZero(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no probe")
		}
	}
	h, err := NewHandler(d)
	if err != nil {
		t.Fatal(err)
	}
	if d.RP.Ready() == nil {
		t.Fatal("the test IdP was discovered; this test needs it down")
	}
	for _, tt := range []struct {
		path string
		deps bool
	}{
		{"/_lcw/readyz", false},
		{"/_lcw/readyz?verbose", true},
		{"/_lcw/readyz?verbose=1", true},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", tt.path, nil))
		var got struct {
			Ready        bool
			Checks       map[string]string
			Dependencies map[string]health.Status
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v: %s", tt.path, err, w.Body)
		}
		if w.Code != http.StatusOK || !got.Ready || got.Checks["signing_keys"] != "ok" || len(got.Checks) != 1 {
			t.Errorf("%s with the IdP and Redis down: %d %s", tt.path, w.Code, w.Body)
		}
		if (got.Dependencies != nil) != tt.deps {
			t.Errorf("%s: dependencies shown %v, want %v", tt.path, got.Dependencies != nil, tt.deps)
		}
		if tt.deps && (got.Dependencies["redis"].Up || got.Dependencies["idp"].Up || got.Dependencies["redis"].Checked.IsZero()) {
			t.Errorf("%s: dependencies %+v, want both down", tt.path, got.Dependencies)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/_lcw/healthz", nil))
	if w.Code != http.StatusOK {
		t.Errorf("healthz: %d", w.Code)
	}
}

// Without a signing key the process cannot mint tokens: not ready.
func TestReadyzWithoutSigningKey(t *testing.T) {
	w := httptest.NewRecorder()
	readyz([]Check{{Name: "signing_keys", Check: func() error { return errors.New("none") }}}, nil).
		ServeHTTP(w, httptest.NewRequest("GET", "/_lcw/readyz?verbose", nil))
	if w.Code != http.StatusServiceUnavailable || json.Valid(w.Body.Bytes()) == false {
		t.Fatalf("readyz without a key: %d %s", w.Code, w.Body)
	}
}
