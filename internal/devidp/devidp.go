// Package devidp is a development OpenID provider: the zitadel/oidc
// provider with the library's example in-memory storage, serving a few
// fixed users with custom claims, on loopback only.
//
// It exists so that tests and the zero-setup demo (cmd/lcw-demo) can run the
// proxy's real sign-in against a real, standards-following provider with no
// IdP of one's own: discovery, JWKS, authorization code flow with PKCE,
// refresh tokens, userinfo and RP-initiated logout.
//
// DEVELOPMENT ONLY. Passwords are plain text and shown on its login page,
// state lives in memory, signing keys are generated at start. Start refuses
// any listen address that is not loopback, and says so in the log.
package devidp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Defaults of Options.
const (
	DefaultClientID     = "lcw-auth-proxy"
	DefaultClientSecret = "secret"
)

// Options configures Start. The zero value is a working provider with
// DefaultUsers on 127.0.0.1 (a free port) and a client that has no
// registered redirect URIs.
type Options struct {
	// Addr is the listen address; "" means 127.0.0.1:0. It must be a
	// loopback address (see RequireLoopback). A fixed address lets a caller
	// start the provider late (or again after Stop) where a relying party
	// already expects it.
	Addr string

	// ClientID and ClientSecret of the one registered confidential web
	// client. Defaults: DefaultClientID, DefaultClientSecret.
	ClientID, ClientSecret string
	// AppClientID and AppClientSecret are an app registration that gets
	// JWT access tokens with the client-credentials grant (app.go), as a
	// Dataverse application user does at Entra ID. Defaults:
	// DefaultAppClientID, DefaultAppClientSecret.
	AppClientID, AppClientSecret string
	// AppCertificate, when set, lets the app registration authenticate
	// with a client assertion signed by this certificate's key instead of
	// its secret (Entra ID's certificate credentials).
	AppCertificate *x509.Certificate

	// TokenAuthMethod is how the client is registered to authenticate at
	// the token endpoint: client_secret_basic (the default, as for a client
	// registered at Ory Hydra without saying) or client_secret_post. The
	// other method is refused with 401 invalid_client, as Hydra does.
	TokenAuthMethod string
	// TokenAuthMethods, when set, replaces the discovery document's
	// token_endpoint_auth_methods_supported (Hydra lists
	// client_secret_post first); an empty, non-nil list removes it.
	TokenAuthMethods []string
	// BeforeToken, when set, is called with the grant type of each token
	// request before it is answered: blocking in it holds the request (a
	// slow IdP), and a non-zero status is answered instead (e.g. 503 from
	// a load balancer in front of a failing IdP).
	BeforeToken func(grantType string) int

	// RedirectURIs must contain, exactly, every redirect_uri the relying
	// party sends; PostLogoutRedirectURIs every post_logout_redirect_uri.
	RedirectURIs, PostLogoutRedirectURIs []string

	// Users defaults to DefaultUsers().
	Users []User

	// NoEndSession removes end_session_endpoint from discovery and makes
	// the endpoint answer 404, as a provider that does not implement
	// RP-initiated logout would (it is optional in the spec).
	NoEndSession bool
	// CognitoLogout makes logout behave as Amazon Cognito's: discovery
	// names no end_session_endpoint, and GET /logout takes client_id and
	// logout_uri (one of PostLogoutRedirectURIs) and redirects there; a
	// post_logout_redirect_uri, another client_id or an unregistered
	// logout_uri gets a 400 error page, where Cognito leaves the browser.
	CognitoLogout bool
	// FrontchannelLogoutURI, when set, is the client's registered
	// front-channel logout URL (OpenID Connect Front-Channel Logout 1.0):
	// discovery then says frontchannel_logout_supported and
	// frontchannel_logout_session_supported, and FrontchannelSignedOutPath
	// serves the provider's signed-out page, which frames this URL with
	// iss and sid. FrontchannelSIDOnly leaves iss out, as Entra ID does.
	FrontchannelLogoutURI string
	FrontchannelSIDOnly   bool
	// TLS, when set, serves the provider over HTTPS with this server
	// configuration (its Issuer is then https://…), as an IdP behind a
	// private CA such as ADFS.
	TLS *tls.Config

	// RememberBrowser keeps a browser session after a sign-in at the login
	// form, as real IdPs do: later authorization requests of that browser,
	// prompt=none ones included, are answered without the form. Off, every
	// request shows the form and prompt=none always gets login_required.
	RememberBrowser bool

	// ClaimsOnlyInUserinfo makes the provider follow OIDC Core 5.4
	// strictly: when an access token is issued, email, profile and extra
	// claims are only in the userinfo response, and the ID token carries
	// just sub.
	ClaimsOnlyInUserinfo bool

	// AccessTokenLifetime is announced as expires_in and enforced at the
	// userinfo and introspection endpoints. 0 keeps the example storage's 5
	// minutes, which is also the maximum: the storage rejects its tokens
	// after that whatever we announce, so Start refuses more.
	AccessTokenLifetime time.Duration

	// IDTokenLifetime sets the ID token's exp; 0 keeps the example's 1 hour.
	IDTokenLifetime time.Duration

	// Tenants, when set, makes the provider behave as Microsoft Entra ID's
	// multi-tenant endpoint (entra.go): it gives usernames their tenant id
	// (a GUID). The discovery documents at CommonDiscoveryPath and
	// OrganizationsDiscoveryPath announce the issuer IssuerTemplate(), and
	// the ID tokens of these users (refreshed ones too) carry iss
	// TenantIssuer(tenant) and tid. Users left out keep the plain Issuer.
	Tenants map[string]string
	// B2C, when set, makes the provider behave as one Azure AD B2C user
	// flow, and ExternalID as a Microsoft Entra External ID tenant
	// (entra.go): their discovery documents (B2CDiscoveryURL,
	// ExternalIDDiscoveryURL) announce B2CIssuer or ExternalIDIssuer, which
	// every ID token carries, with those providers' claims. At most one of
	// Tenants, B2C and ExternalID.
	B2C        *B2C
	ExternalID *ExternalID
	// EditIDToken, when set, changes the claims of every ID token the token
	// endpoint issues (after the Tenants rewrite); the provider signs the
	// result with its key. Tests forge with it what a broken or hostile IdP
	// would send. It is called from the server's goroutines.
	EditIDToken func(claims map[string]any)

	// Logger receives the development-only warning and serving errors;
	// nil discards them.
	Logger *slog.Logger
}

// Provider is a running development OpenID provider.
type Provider struct {
	// Issuer is the provider's http://127.0.0.1:PORT URL, exactly as in its
	// discovery document and the iss claim; it has no trailing slash.
	Issuer string
	// Addr is the host:port it listens on, for starting it again after Stop.
	Addr string
	// ClientID and ClientSecret of the registered client.
	ClientID, ClientSecret string
	// AppClientID and AppClientSecret of the client-credentials app
	// registration; TokenURL is where it gets its tokens.
	AppClientID, AppClientSecret string
	// Users are the accounts it serves, after defaults were applied.
	Users []User

	b2c        *B2C
	externalID *ExternalID

	storage  *claimsStorage
	gate     *tokenGate
	srv      *http.Server
	done     chan struct{}
	stopOnce sync.Once

	jwksRequests atomic.Int64 // see JWKSRequests
}

// Paths the provider serves besides the protocol endpoints.
const (
	// LoginPath is the login page: GET shows it (with ?authRequestID=…),
	// a form POST of id, username and password completes it.
	LoginPath = "/login/username"
	// LoggedOutPath is where end_session lands without a post-logout URI.
	LoggedOutPath = "/logged-out"
	// endSessionPath is where the provider serves RP-initiated logout.
	endSessionPath = "/end_session"
)

// Start listens on opts.Addr and serves the provider in the background
// until Stop. It fails on a non-loopback address, an address in use,
// invalid users or an AccessTokenLifetime over the storage's maximum.
func Start(opts Options) (*Provider, error) {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.AppClientID == "" {
		opts.AppClientID = DefaultAppClientID
	}
	if opts.AppClientSecret == "" {
		opts.AppClientSecret = DefaultAppClientSecret
	}
	if len(opts.Users) == 0 {
		opts.Users = DefaultUsers()
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	switch opts.TokenAuthMethod {
	case "":
		opts.TokenAuthMethod = string(oidc.AuthMethodBasic)
	case string(oidc.AuthMethodBasic), string(oidc.AuthMethodPost):
	default:
		return nil, fmt.Errorf("development OpenID provider: TokenAuthMethod %q: want client_secret_basic or client_secret_post", opts.TokenAuthMethod)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger
	if err := RequireLoopback(opts.Addr); err != nil {
		return nil, fmt.Errorf("development OpenID provider: %w", err)
	}
	if opts.AccessTokenLifetime > exampleAccessTokenLifetime {
		return nil, fmt.Errorf("development OpenID provider: AccessTokenLifetime %s exceeds the example storage's fixed %s",
			opts.AccessTokenLifetime, exampleAccessTokenLifetime)
	}
	users, err := newUserStore(opts.Users)
	if err != nil {
		return nil, fmt.Errorf("development OpenID provider: %w", err)
	}

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("development OpenID provider: listen on %s: %w", opts.Addr, err)
	}
	issuer := "http://" + ln.Addr().String()
	if opts.TLS != nil {
		ln = tls.NewListener(ln, opts.TLS)
		issuer = "https://" + ln.Addr().String()
	}
	storage := newClaimsStorage(users, opts)
	handler, err := newHandler(issuer, storage, opts)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("development OpenID provider: %w", err)
	}
	if len(opts.Tenants) > 0 || opts.B2C != nil || opts.ExternalID != nil || opts.EditIDToken != nil {
		handler, err = newMicrosoftFront(handler, issuer, users, opts, func(c any) (string, error) { return signWith(storage, c) })
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("development OpenID provider: %w", err)
		}
	}
	gate := &tokenGate{next: handler, authMethod: opts.TokenAuthMethod, before: opts.BeforeToken}
	if opts.AppCertificate != nil {
		gate.assertion = &appAssertion{cert: opts.AppCertificate, tokenURL: issuer + tokenPath, clientID: opts.AppClientID}
		gate.appSecret = opts.AppClientSecret
	}

	p := &Provider{
		Issuer:          issuer,
		Addr:            ln.Addr().String(),
		ClientID:        opts.ClientID,
		ClientSecret:    opts.ClientSecret,
		AppClientID:     opts.AppClientID,
		AppClientSecret: opts.AppClientSecret,
		Users:           opts.Users,
		b2c:             opts.B2C,
		externalID:      opts.ExternalID,
		storage:         storage,
		gate:            gate,
		srv:             &http.Server{Handler: gate, ReadHeaderTimeout: 10 * time.Second},
		done:            make(chan struct{}),
	}
	p.srv.Handler = p.countKeyRequests(gate)
	log.Warn("DEVELOPMENT-ONLY OpenID provider started: plain-text demo passwords, in-memory state, never use it in production",
		slog.String("issuer", issuer))
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("development OpenID provider stopped serving", slog.String("issuer", issuer), slog.String("error", err.Error()))
		}
	}()
	return p, nil
}

// Stop closes the listener and every open connection, so the provider looks
// down to its clients. It is idempotent and safe to call from any goroutine.
func (p *Provider) Stop() {
	p.stopOnce.Do(func() {
		_ = p.srv.Close() // Close only reports listener errors, which change nothing here.
		<-p.done
	})
}

// Sign signs claims (anything that marshals to a JSON object) the way the
// provider signs its ID tokens: its current signing key and algorithm, with
// that key's kid in the header, so the provider's JWKS verifies the result.
// Tests use it for tokens the provider does not issue itself, such as
// back-channel logout tokens.
func (p *Provider) Sign(claims any) (string, error) {
	return signWith(p.storage, claims)
}

func signWith(storage *claimsStorage, claims any) (string, error) {
	key, err := storage.SigningKey(context.Background())
	if err != nil {
		return "", fmt.Errorf("development OpenID provider: signing key: %w", err)
	}
	signer, err := op.SignerFromKey(key)
	if err != nil {
		return "", fmt.Errorf("development OpenID provider: signer: %w", err)
	}
	jws, err := crypto.Sign(claims, signer)
	if err != nil {
		return "", fmt.Errorf("development OpenID provider: sign: %w", err)
	}
	return jws, nil
}

// KeyID is the kid of the provider's current signing key.
func (p *Provider) KeyID() string {
	key, err := p.storage.SigningKey(context.Background())
	if err != nil {
		return "" // the example storage's key never fails
	}
	return key.ID()
}

// DiscoveryURL is the provider's discovery document URL.
func (p *Provider) DiscoveryURL() string {
	return p.Issuer + oidc.DiscoveryEndpoint
}

// RequireLoopback returns an error unless addr (host:port) names a loopback
// interface: localhost or a 127.0.0.0/8 or ::1 address. An empty host
// (":4180") listens on every interface and is refused too.
func RequireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if host == "" {
		return fmt.Errorf("listen address %q listens on every interface; development servers must stay on loopback, e.g. 127.0.0.1%s", addr, addr)
	}
	return fmt.Errorf("listen address %q is not loopback; development servers must stay on this machine (use 127.0.0.1, ::1 or localhost)", addr)
}

// newHandler assembles what exampleop.SetupServer does, minus the device
// flow and its process-wide logger, with our own login page and a random
// token encryption key instead of the example's fixed one.
func newHandler(issuer string, storage *claimsStorage, opts Options) (http.Handler, error) {
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, fmt.Errorf("token encryption key: %w", err)
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                cryptoKey,
		DefaultLogoutRedirectURI: LoggedOutPath,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
	}, storage, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("create provider: %w", err)
	}
	var sso *ssoSessions
	if opts.RememberBrowser {
		sso = &ssoSessions{}
	}
	login := &loginPage{
		users:    opts.Users,
		check:    storage.CheckUsernamePassword,
		callback: op.AuthCallbackURL(provider),
		sso:      sso,
		log:      opts.Logger,
	}
	interceptor := op.NewIssuerInterceptor(provider.IssuerFromRequest)

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LoginPath, login.show)
	mux.Handle("POST "+LoginPath, interceptor.HandlerFunc(login.submit))
	mux.HandleFunc("GET "+LoggedOutPath, loggedOut)
	passwordOf := func(username string) (string, bool) {
		for _, u := range opts.Users {
			if u.Username == username {
				return u.Password, true
			}
		}
		return "", false
	}
	var root http.Handler = provider
	if sso != nil {
		root = interceptor.Handler(withSSO(provider, sso, login, passwordOf))
	}
	mux.Handle("/", root)
	mux.Handle(endSessionPath, hydraEndSession(root))
	if opts.CognitoLogout {
		mux.Handle("GET "+CognitoLogoutPath, cognitoLogout(opts, sso))
	}
	if opts.FrontchannelLogoutURI != "" {
		mux.Handle("GET "+FrontchannelSignedOutPath, frontchannelSignedOut(issuer, opts))
	}
	if opts.NoEndSession || opts.CognitoLogout || opts.TokenAuthMethods != nil || opts.FrontchannelLogoutURI != "" {
		return withDiscoveryEdits(mux, opts), nil
	}
	return mux, nil
}

// hydraEndSession refuses a post_logout_redirect_uri that comes without
// id_token_hint with 400 invalid_request, as Ory Hydra does (the library
// accepts client_id in its place): the browser is left on the IdP's error.
func hydraEndSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "invalid_request", http.StatusBadRequest)
			return
		}
		if r.Form.Get("post_logout_redirect_uri") != "" && r.Form.Get("id_token_hint") == "" {
			http.Error(w, "invalid_request: the post_logout_redirect_uri parameter requires id_token_hint", http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withDiscoveryEdits changes what the library announces where it has no
// option for it: it hides the end_session endpoint (a nil endpoint fails
// the library's validation), replaces the token endpoint's
// authentication methods and announces front-channel logout. The
// discovery document is edited on its way out.
func withDiscoveryEdits(next http.Handler, opts Options) http.Handler {
	edit := func(doc map[string]json.RawMessage) error {
		if opts.NoEndSession || opts.CognitoLogout {
			delete(doc, "end_session_endpoint")
		}
		if opts.FrontchannelLogoutURI != "" {
			advertiseFrontchannel(doc)
		}
		switch {
		case opts.TokenAuthMethods == nil:
		case len(opts.TokenAuthMethods) == 0:
			delete(doc, "token_endpoint_auth_methods_supported")
		default:
			v, err := json.Marshal(opts.TokenAuthMethods)
			if err != nil {
				return err
			}
			doc["token_endpoint_auth_methods_supported"] = v
		}
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == endSessionPath && (opts.NoEndSession || opts.CognitoLogout):
			http.NotFound(w, r)
		case r.URL.Path == oidc.DiscoveryEndpoint:
			rewriteResponse(w, r, next, func(body []byte, status int) ([]byte, error) {
				return editDiscovery(body, status, edit)
			})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// rewriteResponse serves r through next and writes edit's version of the
// body, with next's status and headers.
func rewriteResponse(w http.ResponseWriter, r *http.Request, next http.Handler, edit func(body []byte, status int) ([]byte, error)) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	body, err := edit(rec.Body.Bytes(), rec.Code)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body) // the client went away; nothing to do
}

// editDiscovery applies edit to a discovery response's document.
func editDiscovery(body []byte, status int, edit func(map[string]json.RawMessage) error) ([]byte, error) {
	if status != http.StatusOK {
		return body, nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode discovery document: %w", err)
	}
	if err := edit(doc); err != nil {
		return nil, fmt.Errorf("edit discovery document: %w", err)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(doc); err != nil {
		return nil, fmt.Errorf("encode discovery document: %w", err)
	}
	return buf.Bytes(), nil
}
