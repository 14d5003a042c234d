package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

// A client that goes away while the upstream is still thinking is counted
// as 499 (class "4xx"), never as a success, whether or not the access log
// is on.
func TestClientGoneCountsAs499(t *testing.T) {
	for _, accessLog := range []bool{false, true} {
		t.Run(fmt.Sprintf("access_log=%v", accessLog), func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			release := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer up.Close()
			defer close(release)
			cfg := config.Default()
			cfg.UpstreamURL, _ = url.Parse(up.URL)
			cfg.Log.AccessLog = accessLog
			rp, err := NewReverseProxy(&cfg, quietLog, ReverseProxyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m := metrics.New()
			front := httptest.NewServer(NewHandler(Deps{Config: &cfg, Logger: quietLog, Metrics: m, Upstream: rp}))
			defer front.Close()

			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-arrived
				cancel()
			}()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/slow", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				t.Fatalf("request finished with %d, want the client to give up", resp.StatusCode)
			}
			// The proxy notices the closed connection on its own time.
			gone := m.Requests.WithLabelValues("upstream", "4xx")
			for deadline := time.Now().Add(5 * time.Second); testutil.ToFloat64(gone) == 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if n := testutil.ToFloat64(gone); n != 1 {
				t.Errorf("4xx count = %v, want 1", n)
			}
			if n := testutil.ToFloat64(m.Requests.WithLabelValues("upstream", "2xx")); n != 0 {
				t.Errorf("2xx count = %v, want 0: the abandoned request was counted as a success", n)
			}
		})
	}
}
