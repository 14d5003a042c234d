package proxy

import (
	"encoding/json"
	"net/http"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/health"
)

// Check is one readiness condition of this process, e.g. "signing keys".
// Shared dependencies (the IdP, Redis) are never one: they are the
// health.Monitor's.
type Check struct {
	Name  string
	Check func() error
}

// healthz is liveness: the process answers. Nothing outside it is asked,
// so a restart is never the answer to someone else's outage.
func healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// readyz answers 200 when every check of this process passes and 503
// otherwise, naming the failing checks (but not their error text, which may
// hold internal URLs). With ?verbose (as Kubernetes' own /readyz?verbose) it
// adds the shared dependencies' last probed state, which never changes the
// status code: an IdP or Redis outage is every replica's, and failing
// readiness for it would empty the Service.
func readyz(checks []Check, deps *health.Monitor) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := map[string]string{}
		code := http.StatusOK
		for _, c := range checks {
			if err := c.Check(); err != nil {
				status[c.Name] = "not ready"
				code = http.StatusServiceUnavailable
				continue
			}
			status[c.Name] = "ok"
		}
		body := map[string]any{"ready": code == http.StatusOK, "checks": status}
		if deps != nil && r.URL.Query().Has("verbose") {
			view := map[string]health.Status{}
			for _, s := range deps.Status() {
				view[s.Name] = s
			}
			body["dependencies"] = view
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	})
}
