// Package metrics holds the proxy's Prometheus collectors. One Metrics value
// is made per running proxy and passed to whoever counts; there is no global
// registry.
package metrics

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the proxy's collectors, all under the lcw_ namespace.
type Metrics struct {
	reg *prometheus.Registry

	// Requests counts proxied and own requests by route kind and status class.
	Requests *prometheus.CounterVec
	// RequestDuration observes whole-request latency by route kind.
	RequestDuration *prometheus.HistogramVec
	// Logins counts login outcomes: started, success, error, refresh, refresh_failed (kept, retried later),
	// refresh_invalid_grant (refused by the IdP: the session ended), refresh_discarded (ended during its refresh), logout.
	Logins *prometheus.CounterVec
	// SessionCookieBytes is the size of the session cookies set at sign-in
	// (name=value of every chunk); SignInWarnings counts sign-ins that work
	// today but break later: oversize (the cookies pass 4 KB, near the
	// 8 KB header line of nginx and many load balancers), groups_overage
	// (Entra ID left the groups out for too many of them).
	SessionCookieBytes prometheus.Histogram
	SignInWarnings     *prometheus.CounterVec
	// Tokens counts token endpoint outcomes: issued, unauthenticated,
	// forbidden, rate_limited, error, method_not_allowed.
	Tokens *prometheus.CounterVec
	// TokenSignDuration observes signing time.
	TokenSignDuration prometheus.Histogram
	// ContextProblems counts lwicontexts keys left out, by key and reason.
	ContextProblems *prometheus.CounterVec
	// ContextEnrichment counts context_url calls by result: ok, error.
	ContextEnrichment *prometheus.CounterVec
	// ContactLookups counts Dataverse contact lookups (token.contact) by
	// result: linked, created, no_match, ambiguous, no_claim, throttled,
	// unavailable, error.
	ContactLookups *prometheus.CounterVec
	// Injections counts HTML responses by result: injected, skipped_*, already.
	Injections *prometheus.CounterVec
	// ClientEvents counts lcw:error codes reported by browsers.
	ClientEvents *prometheus.CounterVec
	// ClientClockSkew counts pages whose browser clock runs more than a
	// minute ahead of the proxy's: their widget rejects valid tokens as
	// already expired.
	ClientClockSkew prometheus.Counter
	// KeyReloads counts signing key reloads by result: ok, error.
	KeyReloads *prometheus.CounterVec
	// StoreOps counts server-side session store operations by op and
	// result (ok, error); StoreDuration observes their latency by op.
	StoreOps      *prometheus.CounterVec
	StoreDuration *prometheus.HistogramVec
	// BackchannelLogouts counts back-channel logout requests by result:
	// ended, no_session, bad_request, invalid_token, unknown_key (signed
	// under a kid the IdP's JWKS does not have, refused without fetching
	// it again within the refetch interval), expired, invalid_claims,
	// replayed, unavailable.
	BackchannelLogouts *prometheus.CounterVec
	// StoreCacheRefused counts Redis refusing client-side caching (CLIENT
	// TRACKING, refused by managed services): the store went on without
	// its cache, every request reading Redis.
	StoreCacheRefused prometheus.Counter
	// DependencyUp is 1 while a shared service the proxy relies on (dep:
	// idp, redis) answered its last probe, 0 otherwise. Readiness never
	// depends on it: every replica shares these services.
	DependencyUp *prometheus.GaugeVec
	// BuildInfo is 1, labelled with the binary's version, Go version and
	// VCS revision (RecordBuild).
	BuildInfo *prometheus.GaugeVec
	// FrontchannelLogouts counts front-channel logout requests (the IdP's
	// iframe) by result: ended, no_session (no session of that sid; with
	// the cookie store: no session cookie came, as when the browser blocks
	// third-party cookies), other_session (the cookie's session has
	// another sid or issuer: left alone), bad_request, wrong_issuer,
	// unavailable (the store, or discovery not done yet), not_supported
	// (404: enabled unset and the IdP does not advertise
	// frontchannel_logout_supported).
	FrontchannelLogouts *prometheus.CounterVec
}

// New creates the collectors on a fresh registry, with Go and process
// collectors included.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg}
	m.Requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "http_requests_total", Help: "Requests by route kind and status class."}, []string{"route", "code"})
	m.RequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "lcw", Name: "http_request_duration_seconds", Help: "Request latency by route kind.", Buckets: prometheus.DefBuckets}, []string{"route"})
	m.Logins = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "logins_total", Help: "Login flow outcomes."}, []string{"result"})
	m.SessionCookieBytes = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "lcw", Name: "session_cookie_bytes", Help: "Size of the session cookies set at sign-in.", Buckets: []float64{128, 256, 512, 1024, 2048, 4096, 6144, 8192, 12288}})
	m.SignInWarnings = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "signin_warnings_total", Help: "Sign-ins that work but are at risk, by reason (oversize, groups_overage)."}, []string{"reason"})
	m.Tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "tokens_total", Help: "Chat token endpoint outcomes."}, []string{"result"})
	m.TokenSignDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "lcw", Name: "token_sign_duration_seconds", Help: "Time to mint and sign one chat token.", Buckets: []float64{.0005, .001, .002, .005, .01, .05, .1, .5, 1, 2}})
	m.ContextProblems = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "lwicontexts_problems_total", Help: "lwicontexts keys left out of a token, by key and reason."}, []string{"key", "reason"})
	m.ContextEnrichment = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "context_enrichment_total", Help: "context_url calls by result."}, []string{"result"})
	m.ContactLookups = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "contact_lookups_total", Help: "Dataverse contact lookups (token.contact) by result."}, []string{"result"})
	m.Injections = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "injections_total", Help: "HTML responses by injection result."}, []string{"result"})
	m.ClientEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "client_events_total", Help: "lcw:error codes reported by browsers."}, []string{"code"})
	m.ClientClockSkew = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "lcw", Name: "client_clock_skew_total", Help: "Pages whose browser clock ran more than a minute ahead of the proxy's (their widget takes valid tokens for expired ones)."})
	m.KeyReloads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "signing_key_reloads_total", Help: "Signing key file reloads by result."}, []string{"result"})
	m.StoreOps = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "session_store_operations_total", Help: "Server-side session store operations by op and result."}, []string{"op", "result"})
	m.StoreDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "lcw", Name: "session_store_duration_seconds", Help: "Server-side session store operation latency by op.", Buckets: []float64{.0001, .0005, .001, .002, .005, .01, .05, .1, .5, 2}}, []string{"op"})
	m.BackchannelLogouts = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "backchannel_logouts_total", Help: "Back-channel logout requests from the IdP by result."}, []string{"result"})
	m.FrontchannelLogouts = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lcw", Name: "frontchannel_logouts_total", Help: "Front-channel logout requests (the IdP's iframe) by result."}, []string{"result"})
	for _, c := range []prometheus.Collector{m.Requests, m.RequestDuration, m.Logins, m.SessionCookieBytes, m.SignInWarnings, m.Tokens, m.TokenSignDuration, m.ContextProblems, m.ContextEnrichment, m.ContactLookups, m.Injections, m.ClientEvents, m.ClientClockSkew, m.KeyReloads, m.StoreOps, m.StoreDuration, m.BackchannelLogouts, m.FrontchannelLogouts} {
		f(c)
	}
	m.StoreCacheRefused = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "lcw", Name: "session_store_cache_refused_total", Help: "Times Redis refused client-side caching (CLIENT TRACKING) and the session store went on without it."})
	f(m.StoreCacheRefused)
	m.DependencyUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "lcw", Name: "dependency_up", Help: "1 while the shared dependency (idp, redis) answered its last probe, 0 otherwise."}, []string{"dep"})
	m.BuildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "lcw", Name: "build_info", Help: "Always 1; the labels name the running build."}, []string{"version", "goversion", "revision"})
	f(m.DependencyUp)
	f(m.BuildInfo)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// SetDependency records a dependency probe's outcome in DependencyUp.
func (m *Metrics) SetDependency(dep string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.DependencyUp.WithLabelValues(dep).Set(v)
}

// RecordBuild sets BuildInfo from the binary's build information: version
// (the release the binary was stamped with; empty: the module version Go
// recorded, "(devel)" for a local build), the Go version and the VCS
// revision ("unknown" when the build recorded none, as go run and tests).
func (m *Metrics) RecordBuild(version string) {
	goversion, revision := runtime.Version(), "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goversion = bi.GoVersion
		if version == "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				revision = s.Value
			}
		}
	}
	if version == "" {
		version = "(devel)"
	}
	m.BuildInfo.Reset()
	m.BuildInfo.WithLabelValues(version, goversion, revision).Set(1)
}

// ObserveStore records one session store operation.
func (m *Metrics) ObserveStore(op string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.StoreOps.WithLabelValues(op, result).Inc()
	m.StoreDuration.WithLabelValues(op).Observe(d.Seconds())
}
