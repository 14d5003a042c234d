package proxy

import (
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// Deps are the handler tree's dependencies.
type Deps struct {
	Config *config.Config
	Logger *slog.Logger
	// Upstream serves every request that is not the proxy's own.
	Upstream http.Handler
	// Ready lists the readiness checks reported by {prefix}/readyz.
	Ready []Check
}

// NewHandler builds the handler tree. Every endpoint the proxy serves itself
// is listed here; everything outside the prefix goes to the upstream.
func NewHandler(d Deps) http.Handler {
	p := d.Config.Prefix
	own := http.NewServeMux()
	own.Handle("GET "+p+"/healthz", healthz())
	own.Handle("GET "+p+"/readyz", readyz(d.Ready))
	own.Handle(p+"/", http.NotFoundHandler()) // the prefix never reaches the upstream

	return accessLog(d.Logger, d.Config.Log.AccessLog, splitByPrefix(p, own, d.Upstream))
}

// splitByPrefix sends requests for the proxy's own endpoints to own and the
// rest to upstream. The decision uses the cleaned path so that /x/../_lcw/…
// cannot slip past it in either direction.
func splitByPrefix(prefix string, own, upstream http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if underPrefix(r.URL.Path, prefix) {
			own.ServeHTTP(w, r)
			return
		}
		upstream.ServeHTTP(w, r)
	})
}

func underPrefix(p, prefix string) bool {
	if !strings.HasPrefix(p, prefix) {
		// The cheap test fails for nearly all traffic; only unclean paths
		// need the second look.
		if !strings.Contains(p, "/.") && !strings.Contains(p, "//") {
			return false
		}
		p = path.Clean(p)
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}
