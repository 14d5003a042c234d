package devidp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// tokenPath is where the library serves the token endpoint.
const tokenPath = "/oauth/token"

// TokenRequest is one request the token endpoint received, as tests check
// it: the grant and how the client authenticated.
type TokenRequest struct {
	GrantType string // authorization_code, refresh_token, …
	// AuthMethod is client_secret_basic (an Authorization: Basic
	// header), client_secret_post (client_secret in the body) or none.
	AuthMethod string
}

// tokenGate stands in front of the library's token endpoint and does what
// the library does not: it refuses a client that authenticates with
// another method than the registered one, with 401 invalid_client, as Ory
// Hydra (and other certified IdPs) do; the library accepts either. It also
// records every request and lets a test hold or fail them (BeforeToken).
type tokenGate struct {
	next       http.Handler
	authMethod string // the registered method
	before     func(grantType string) int
	// assertion, when set, checks the app registration's client
	// assertions; the library's client-credentials path authenticates by
	// secret only, so a request whose assertion passes is handed on with
	// the app's secret (appSecret) in its place.
	assertion *appAssertion
	appSecret string

	mu   sync.Mutex
	seen []TokenRequest
}

func (g *tokenGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != tokenPath || r.Method != http.MethodPost {
		g.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body)) // the library reads it again
	form, _ := url.ParseQuery(string(body))
	req := TokenRequest{GrantType: form.Get("grant_type"), AuthMethod: usedAuthMethod(r, form)}
	g.mu.Lock()
	g.seen = append(g.seen, req)
	g.mu.Unlock()
	if g.before != nil {
		if status := g.before(req.GrantType); status != 0 {
			// As a load balancer in front of a failing IdP answers.
			http.Error(w, http.StatusText(status), status)
			return
		}
	}
	if form.Get("client_assertion") != "" && g.assertion != nil && req.GrantType == string(oidc.GrantTypeClientCredentials) {
		if err := g.assertion.check(form); err != nil {
			invalidClient(w, err.Error())
			return
		}
		form.Del("client_assertion")
		form.Del("client_assertion_type")
		form.Set("client_id", g.assertion.clientID)
		form.Set("client_secret", g.appSecret)
		r.Body = io.NopCloser(strings.NewReader(form.Encode()))
		r.ContentLength = -1
		g.next.ServeHTTP(w, r)
		return
	}
	if req.AuthMethod != g.authMethod {
		// Hydra's answer, word for word in what matters.
		invalidClient(w, fmt.Sprintf("Client authentication failed. The OAuth 2.0 Client supports client authentication method '%s', but method '%s' was requested.",
			g.authMethod, req.AuthMethod))
		return
	}
	g.next.ServeHTTP(w, r)
}

// invalidClient refuses a token request's client: 401 invalid_client.
func invalidClient(w http.ResponseWriter, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": description})
}

// usedAuthMethod tells how a token request authenticated its client.
func usedAuthMethod(r *http.Request, form url.Values) string {
	if _, _, ok := r.BasicAuth(); ok {
		return string(oidc.AuthMethodBasic)
	}
	if form.Get("client_secret") != "" {
		return string(oidc.AuthMethodPost)
	}
	return string(oidc.AuthMethodNone)
}

func (g *tokenGate) requests() []TokenRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.seen)
}

// TokenRequests lists the requests the token endpoint received so far, in
// order.
func (p *Provider) TokenRequests() []TokenRequest { return p.gate.requests() }

// Revoke ends every grant of the user with id userID, as an administrator
// revoking consent (or a sign-out elsewhere) does: the user's refresh
// tokens then get invalid_grant.
func (p *Provider) Revoke(userID string) error {
	if err := p.storage.TerminateSession(context.Background(), userID, p.ClientID); err != nil {
		return fmt.Errorf("development OpenID provider: revoke %s: %w", userID, err)
	}
	return nil
}
