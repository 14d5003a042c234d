package proxy

import (
	"encoding/json"
	"net/http"
)

// Check is one readiness condition, e.g. "oidc discovery" or "signing keys".
type Check struct {
	Name  string
	Check func() error
}

func healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// readyz answers 200 when every check passes and 503 otherwise, naming the
// failing checks (but not their error text, which may hold internal URLs).
func readyz(checks []Check) http.Handler {
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
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": code == http.StatusOK, "checks": status})
	})
}
