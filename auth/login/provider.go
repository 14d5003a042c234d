// Package login makes the proxy an OpenID Connect relying party: the
// authorization code flow with PKCE, state and nonce, the session it leads
// to, refresh and logout.
package login

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// provider is what discovery yields; it is swapped in atomically once the
// IdP answers.
type provider struct {
	oidc     *oidc.Provider
	verifier *oidc.IDTokenVerifier
	// logout checks a back-channel logout token's signature (the
	// provider's JWKS), iss and aud; the rest is checked by
	// verifyLogoutToken.
	logout     *oidc.IDTokenVerifier
	oauth2     oauth2.Config
	endSession string
	// authMethod is the token endpoint authentication in use
	// (oauth2.Endpoint.AuthStyle says the same to x/oauth2).
	authMethod string
	// issuer checks what go-oidc cannot: iss and tid against a
	// {tenantid} issuer (issuer.go). Every verified token goes through it,
	// and every front-channel logout request's iss.
	issuer issuerRule
	// frontchannel is the discovery document's
	// frontchannel_logout_supported.
	frontchannel bool
}

// errNotDiscovered is returned while the IdP has not answered discovery.
var errNotDiscovered = errors.New("OpenID provider discovery has not succeeded yet")

type discovery struct {
	p       atomic.Pointer[provider]
	lastErr atomic.Pointer[error]
}

func (d *discovery) get() (*provider, error) {
	if p := d.p.Load(); p != nil {
		return p, nil
	}
	if e := d.lastErr.Load(); e != nil {
		return nil, fmt.Errorf("%w: %w", errNotDiscovered, *e)
	}
	return nil, errNotDiscovered
}

// discover retries OpenID discovery with exponential backoff until it
// succeeds or ctx ends, so the proxy can start while the IdP is down.
func (rp *RP) discover(ctx context.Context) {
	backoff := 500 * time.Millisecond
	for {
		p, err := rp.tryDiscover(ctx)
		if err == nil {
			rp.disc.p.Store(p)
			rp.log.Info("OpenID provider discovered", slog.String("issuer", config.RedactURL(rp.opt.OIDC.Issuer)), slog.Bool("end_session", p.endSession != ""),
				slog.String("token_auth_method", p.authMethod))
			if p.issuer.templated && p.issuer.tenants == nil {
				rp.log.Warn("oidc.issuer has "+config.TenantIDPlaceholder+" and oidc.allowed_tenants is empty: users of every tenant the provider signs for can sign in; list your customers' tenants, or let access rules decide",
					slog.String("issuer", rp.opt.OIDC.Issuer))
			}
			return
		}
		rp.disc.lastErr.Store(&err)
		rp.log.Warn("OpenID provider discovery failed; retrying", slog.String("issuer", config.RedactURL(rp.opt.OIDC.Issuer)),
			slog.String("error", config.RedactURL(err.Error())), slog.String("fix", DiscoveryFix(rp.opt.OIDC, err)), slog.Duration("retry_in", backoff))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		case <-rp.wake:
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (rp *RP) tryDiscover(ctx context.Context) (*provider, error) {
	ctx, cancel := context.WithTimeout(ctx, rp.opt.OIDC.DiscoveryTimeout.D())
	defer cancel()
	d, err := Discover(ctx, rp.http, rp.opt.OIDC)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", rp.opt.OIDC.DiscoveryDocumentURL(), err)
	}
	op := d.Provider
	var extra struct {
		EndSession   string   `json:"end_session_endpoint"`
		AuthMethods  []string `json:"token_endpoint_auth_methods_supported"`
		Frontchannel bool     `json:"frontchannel_logout_supported"`
	}
	if err := json.Unmarshal(d.Doc, &extra); err != nil {
		return nil, fmt.Errorf("read discovery document of %s: %w", rp.opt.OIDC.Issuer, err)
	}
	issuer := newIssuerRule(rp.opt.OIDC)
	method, warning := tokenAuthMethod(rp.opt.OIDC.TokenAuthMethod, extra.AuthMethods)
	if warning != "" {
		rp.log.Warn(warning, slog.String("issuer", rp.opt.OIDC.Issuer), slog.String("oidc.token_auth_method", method),
			slog.Any("token_endpoint_auth_methods_supported", extra.AuthMethods))
	}
	endpoint := op.Endpoint()
	endpoint.AuthStyle = authStyles[method]
	skew := rp.opt.OIDC.ClockSkew.D()
	return &provider{
		oidc: op,
		verifier: op.Verifier(&oidc.Config{
			ClientID: rp.opt.OIDC.ClientID,
			// A {tenantid} issuer is checked by issuer.check instead.
			SkipIssuerCheck: issuer.templated,
			// go-oidc has no leeway option: reading the clock a little
			// earlier accepts tokens that expired within the skew.
			Now: func() time.Time { return time.Now().Add(-skew) },
		}),
		logout: rp.logoutVerifier(d.Doc, issuer.templated),
		oauth2: oauth2.Config{
			ClientID:     rp.opt.OIDC.ClientID,
			ClientSecret: rp.opt.OIDC.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  rp.callbackURL,
			Scopes:       rp.opt.OIDC.Scopes,
		},
		endSession:   extra.EndSession,
		authMethod:   method,
		issuer:       issuer,
		frontchannel: extra.Frontchannel,
	}, nil
}

// authStyles are x/oauth2's names for the token endpoint authentication
// methods. AuthStyleAutoDetect is never used: it retries a refused request
// with the other method, and the second answer (often invalid_client, as
// Hydra's for a method the client is not registered with) hides the first
// (invalid_grant), so a revoked grant would look like a configuration
// problem.
var authStyles = map[string]oauth2.AuthStyle{
	config.TokenAuthBasic: oauth2.AuthStyleInHeader,
	config.TokenAuthPost:  oauth2.AuthStyleInParams,
}

// tokenAuthMethod picks the token endpoint authentication: the configured
// method, or the first of client_secret_basic and client_secret_post (in
// that order) that the provider lists, client_secret_basic when it lists
// nothing (the spec's default). warning, when not empty, says why the
// choice may fail: the configured method is not listed, or neither is. A
// warning rather than a refusal: some discovery documents list less than
// the provider accepts.
func tokenAuthMethod(configured string, supported []string) (method, warning string) {
	if configured != "" {
		if len(supported) > 0 && !slices.Contains(supported, configured) {
			return configured, "oidc.token_auth_method is not among the provider's token_endpoint_auth_methods_supported; token requests may be refused with invalid_client"
		}
		return configured, ""
	}
	if len(supported) == 0 {
		return config.TokenAuthBasic, ""
	}
	for _, m := range []string{config.TokenAuthBasic, config.TokenAuthPost} {
		if slices.Contains(supported, m) {
			return m, ""
		}
	}
	return config.TokenAuthBasic, "the provider lists neither client_secret_basic nor client_secret_post in token_endpoint_auth_methods_supported; trying client_secret_basic"
}

// clientContext makes go-oidc and x/oauth2 use the RP's HTTP client, which
// has timeouts (http.DefaultClient has none).
func (rp *RP) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, rp.http)
}

// idpUp tells whether the IdP answered lately, so silent sign-in does not
// send a browser to an IdP that would leave it on a browser error page. The
// answer is cached: one probe (the discovery document, 2 s at most) every
// 15 s, whoever asks.
func (rp *RP) idpUp(ctx context.Context) bool {
	now := time.Now()
	rp.probeMu.Lock()
	defer rp.probeMu.Unlock()
	if now.Sub(rp.probedAt) < 15*time.Second {
		return rp.probeOK
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	status, err := rp.fetchDiscovery(ctx)
	rp.probeOK = err == nil && status < 500
	rp.probedAt = time.Now()
	return rp.probeOK
}

// fetchDiscovery asks for the discovery document and returns the answer's
// status; the body is not read.
func (rp *RP) fetchDiscovery(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rp.opt.OIDC.DiscoveryDocumentURL(), nil)
	if err != nil {
		return 0, fmt.Errorf("discovery request: %w", err)
	}
	resp, err := rp.http.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Probe tells whether the IdP answers now: its discovery document is
// served (2xx) and discovery has succeeded. It is the IdP's health for
// metrics, never readiness. A probe that reaches the IdP while discovery
// is still waiting out its backoff wakes it, so sign-in works within one
// probe of the IdP coming back rather than after up to 30 s more.
func (rp *RP) Probe(ctx context.Context) error {
	status, err := rp.fetchDiscovery(ctx)
	if err == nil && status/100 != 2 {
		err = fmt.Errorf("discovery document answered HTTP %d", status)
	}
	if err != nil {
		return err
	}
	if _, err := rp.disc.get(); err != nil {
		select {
		case rp.wake <- struct{}{}:
		default: // already woken
		}
		return err
	}
	return nil
}

// Ready reports whether sign-in can work: discovery has succeeded. It is
// not the proxy's readiness (see Probe).
func (rp *RP) Ready() error {
	_, err := rp.disc.get()
	return err
}

// newHTTPClient is the one client for every call to the IdP (discovery,
// keys, token, userinfo, logout keys); tlsConf (oidc.ca_file's roots), when
// set, replaces the system's roots.
func newHTTPClient(tlsConf *tls.Config) *http.Client {
	c := &http.Client{Timeout: 15 * time.Second}
	if tlsConf != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tlsConf
		c.Transport = t
	}
	return c
}
