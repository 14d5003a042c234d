package testenv_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// relyingParty is the smallest OIDC client that exercises the OP the way the
// proxy will: /login starts a code flow with PKCE and a nonce, /callback
// records the code (the test exchanges it, so it can also misuse it).
type relyingParty struct {
	srv      *httptest.Server
	op       *testenv.OP
	oauth    oauth2.Config
	provider *oidc.Provider

	mu      sync.Mutex
	pending map[string]flow // by state
	done    []flow
}

// flow is one login attempt as the relying party saw it.
type flow struct {
	verifier, nonce, code string
}

const (
	callbackPath  = "/callback"
	loggedOutPath = "/logged-out"
)

// startRP starts a relying party and an OP that knows its redirect URIs.
func startRP(t *testing.T, opts testenv.OPOptions) *relyingParty {
	t.Helper()
	rp := &relyingParty{pending: make(map[string]flow)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", rp.login)
	mux.HandleFunc("GET "+callbackPath, rp.callback)
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)

	opts.RedirectURIs = append(opts.RedirectURIs, rp.srv.URL+callbackPath)
	opts.PostLogoutRedirectURIs = append(opts.PostLogoutRedirectURIs, rp.srv.URL+loggedOutPath)
	rp.op = testenv.StartOP(t, opts)

	provider, err := oidc.NewProvider(t.Context(), rp.op.Issuer)
	if err != nil {
		t.Fatalf("discover %s: %v", rp.op.Issuer, err)
	}
	rp.provider = provider
	rp.oauth = oauth2.Config{
		ClientID:     rp.op.ClientID,
		ClientSecret: rp.op.ClientSecret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  rp.srv.URL + callbackPath,
		Scopes:       []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	return rp
}

func (rp *relyingParty) login(w http.ResponseWriter, r *http.Request) {
	f := flow{verifier: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier()}
	state := oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = f
	rp.mu.Unlock()
	http.Redirect(w, r, rp.oauth.AuthCodeURL(state,
		oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)), http.StatusFound)
}

func (rp *relyingParty) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	f, ok := rp.pending[q.Get("state")]
	if !ok {
		http.Error(w, "unknown state", http.StatusBadRequest)
		return
	}
	delete(rp.pending, q.Get("state"))
	if q.Get("code") == "" {
		http.Error(w, "no code: "+q.Get("error"), http.StatusBadRequest)
		return
	}
	f.code = q.Get("code")
	rp.done = append(rp.done, f)
	fmt.Fprint(w, "signed in")
}

// signIn logs username in through the OP's form and returns the flow the
// callback recorded.
func (rp *relyingParty) signIn(t *testing.T, username, password string) flow {
	t.Helper()
	resp := testenv.Login(t, testenv.NewBrowserClient(t), rp.srv.URL+"/login", username, password)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != callbackPath {
		t.Fatalf("login ended at %s with %d, want %s with 200", resp.Request.URL, resp.StatusCode, callbackPath)
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.done) == 0 {
		t.Fatal("callback recorded no code")
	}
	f := rp.done[len(rp.done)-1]
	rp.done = rp.done[:len(rp.done)-1]
	return f
}

// exchange redeems the flow's code with its PKCE verifier and verifies the
// ID token, nonce included.
func (rp *relyingParty) exchange(t *testing.T, f flow) (*oauth2.Token, *oidc.IDToken) {
	t.Helper()
	tok, err := rp.oauth.Exchange(t.Context(), f.code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		t.Fatalf("exchange code: %v", err)
	}
	idt := rp.verifyIDToken(t, tok)
	if idt.Nonce != f.nonce {
		t.Fatalf("nonce = %q, want %q", idt.Nonce, f.nonce)
	}
	return tok, idt
}

func (rp *relyingParty) verifyIDToken(t *testing.T, tok *oauth2.Token) *oidc.IDToken {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatal("token response has no id_token")
	}
	idt, err := rp.provider.Verifier(&oidc.Config{ClientID: rp.op.ClientID}).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("verify id_token: %v", err)
	}
	return idt
}

// claimsOf decodes claims the way the proxy will: generic JSON.
func claimsOf(t *testing.T, decode func(any) error) map[string]any {
	t.Helper()
	var m map[string]any
	if err := decode(&m); err != nil {
		t.Fatalf("decode claims: %v", err)
	}
	return m
}

func userByName(t *testing.T, users []testenv.User, username string) testenv.User {
	t.Helper()
	for _, u := range users {
		if u.Username == username {
			return u
		}
	}
	t.Fatalf("no user %q", username)
	return testenv.User{}
}

// wantProfile is what every user's ID token or userinfo must carry when the
// profile and email claims are released, extra claims in their JSON form.
func wantProfile(t *testing.T, u testenv.User) map[string]any {
	t.Helper()
	want := map[string]any{
		"sub":                u.ID,
		"email":              u.Email,
		"name":               u.FirstName + " " + u.LastName,
		"given_name":         u.FirstName,
		"family_name":        u.LastName,
		"preferred_username": u.Username,
	}
	// The library omits email_verified when false, which an RP must read as
	// unverified; so only a true value is a claim to expect.
	if u.EmailVerified {
		want["email_verified"] = true
	}
	extra, err := json.Marshal(u.Claims)
	if err != nil {
		t.Fatalf("encode extra claims: %v", err)
	}
	var decoded map[string]any
	if err := json.Unmarshal(extra, &decoded); err != nil {
		t.Fatalf("decode extra claims: %v", err)
	}
	for k, v := range decoded {
		want[k] = v
	}
	return want
}

// assertClaims fails for every wanted claim that is missing or different.
func assertClaims(t *testing.T, where string, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: claim %q missing", where, k)
			continue
		}
		if fmt.Sprint(g) != fmt.Sprint(w) || fmt.Sprintf("%T", g) != fmt.Sprintf("%T", w) {
			t.Errorf("%s: claim %q = %#v, want %#v", where, k, g, w)
		}
	}
}

// assertAbsent fails for every claim that is present.
func assertAbsent(t *testing.T, where string, got map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if v, ok := got[k]; ok {
			t.Errorf("%s: claim %q = %#v, want absent", where, k, v)
		}
	}
}

func getJSON(t *testing.T, u string) (map[string]any, int) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("decode %s: %v", u, err)
		}
	}
	return m, resp.StatusCode
}

func TestDiscovery(t *testing.T) {
	tests := []struct {
		name           string
		opts           testenv.OPOptions
		wantEndSession bool
	}{
		{name: "advertises end_session by default", wantEndSession: true},
		{name: "NoEndSession omits end_session", opts: testenv.OPOptions{NoEndSession: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := testenv.StartOP(t, tt.opts)
			if !strings.HasPrefix(op.Issuer, "http://127.0.0.1:") || strings.HasSuffix(op.Issuer, "/") {
				t.Errorf("Issuer = %q, want http://127.0.0.1:PORT", op.Issuer)
			}
			doc, status := getJSON(t, op.Issuer+"/.well-known/openid-configuration")
			if status != http.StatusOK {
				t.Fatalf("discovery status = %d", status)
			}
			if doc["issuer"] != op.Issuer {
				t.Errorf("discovery issuer = %v, want %s", doc["issuer"], op.Issuer)
			}
			for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"} {
				if s, _ := doc[k].(string); !strings.HasPrefix(s, op.Issuer+"/") {
					t.Errorf("%s = %v, want under the issuer", k, doc[k])
				}
			}
			endSession, has := doc["end_session_endpoint"].(string)
			if has != tt.wantEndSession {
				t.Fatalf("end_session_endpoint present = %v (%q), want %v", has, endSession, tt.wantEndSession)
			}
			if !tt.wantEndSession {
				resp, err := http.Get(op.Issuer + "/end_session")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("hidden /end_session status = %d, want 404", resp.StatusCode)
				}
			}
		})
	}
}

func TestCodeFlowWithPKCE(t *testing.T) {
	rp := startRP(t, testenv.OPOptions{})
	tests := []struct {
		name, username, password string
		wantAbsent               []string
	}{
		{name: "VIP carries groups, contact_id and cart_value", username: testenv.VIPUsername, password: testenv.VIPPassword},
		{name: "customer carries own claims", username: testenv.CustomerUsername, password: testenv.CustomerPassword},
		{name: "plain user has no extra claims", username: testenv.PlainUsername, password: testenv.PlainPassword,
			wantAbsent: []string{"groups", "contact_id", "cart_value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := userByName(t, rp.op.Users, tt.username)
			want := wantProfile(t, user)

			tok, idt := rp.exchange(t, rp.signIn(t, tt.username, tt.password))

			idClaims := claimsOf(t, idt.Claims)
			assertClaims(t, "id_token", idClaims, want)
			assertAbsent(t, "id_token", idClaims, tt.wantAbsent...)
			if !user.EmailVerified && idClaims["email_verified"] == true {
				t.Error("id_token: email_verified is true for an unverified email")
			}

			info, err := rp.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			uiClaims := claimsOf(t, info.Claims)
			assertClaims(t, "userinfo", uiClaims, want)
			assertAbsent(t, "userinfo", uiClaims, tt.wantAbsent...)
		})
	}
}

func TestDefaultVIPClaimTypes(t *testing.T) {
	// The proxy maps these by JSON type, so pin the types, not just values.
	rp := startRP(t, testenv.OPOptions{})
	_, idt := rp.exchange(t, rp.signIn(t, testenv.VIPUsername, testenv.VIPPassword))
	c := claimsOf(t, idt.Claims)
	if got, ok := c["groups"].([]any); !ok || len(got) != 2 || got[0] != "vip" || got[1] != "customers" {
		t.Errorf("groups = %#v, want [vip customers]", c["groups"])
	}
	if got, ok := c["cart_value"].(float64); !ok || got != 10000 {
		t.Errorf("cart_value = %#v, want number 10000", c["cart_value"])
	}
	if got, ok := c["contact_id"].(string); !ok || len(got) != 36 {
		t.Errorf("contact_id = %#v, want GUID string", c["contact_id"])
	}
	if c["email"] != "vip@example.com" {
		t.Errorf("email = %v, want vip@example.com", c["email"])
	}
}

func TestCustomUserClaims(t *testing.T) {
	users := []testenv.User{{
		ID: "u-1", Username: "ann", Password: "pw", FirstName: "Ann", LastName: "Example",
		Email: "ann@example.com", EmailVerified: true,
		Claims: map[string]any{
			"address": map[string]any{"locality": "Oslo", "country": "NO"},
			"active":  true,
			"tier":    3,
		},
	}}
	rp := startRP(t, testenv.OPOptions{Users: users})
	_, idt := rp.exchange(t, rp.signIn(t, "ann", "pw"))
	assertClaims(t, "id_token", claimsOf(t, idt.Claims), wantProfile(t, users[0]))
}

func TestClaimsOnlyInUserinfo(t *testing.T) {
	rp := startRP(t, testenv.OPOptions{ClaimsOnlyInUserinfo: true})
	user := userByName(t, rp.op.Users, testenv.VIPUsername)
	want := wantProfile(t, user)

	tok, idt := rp.exchange(t, rp.signIn(t, testenv.VIPUsername, testenv.VIPPassword))

	idClaims := claimsOf(t, idt.Claims)
	if idt.Subject != user.ID {
		t.Errorf("id_token sub = %q, want %q", idt.Subject, user.ID)
	}
	assertAbsent(t, "id_token", idClaims, "email", "name", "preferred_username", "groups", "contact_id", "cart_value")

	info, err := rp.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	assertClaims(t, "userinfo", claimsOf(t, info.Claims), want)
}

func TestPKCEIsEnforced(t *testing.T) {
	rp := startRP(t, testenv.OPOptions{})
	tests := []struct {
		name    string
		opts    func(f flow) []oauth2.AuthCodeOption
		wantErr bool
	}{
		{name: "no verifier is refused", opts: func(flow) []oauth2.AuthCodeOption { return nil }, wantErr: true},
		{name: "wrong verifier is refused", opts: func(flow) []oauth2.AuthCodeOption {
			return []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}
		}, wantErr: true},
		{name: "right verifier is accepted", opts: func(f flow) []oauth2.AuthCodeOption {
			return []oauth2.AuthCodeOption{oauth2.VerifierOption(f.verifier)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := rp.signIn(t, testenv.CustomerUsername, testenv.CustomerPassword)
			_, err := rp.oauth.Exchange(t.Context(), f.code, tt.opts(f)...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("exchange error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestWrongPasswordStaysOnLoginForm(t *testing.T) {
	rp := startRP(t, testenv.OPOptions{})
	resp := testenv.Login(t, testenv.NewBrowserClient(t), rp.srv.URL+"/login", testenv.VIPUsername, "not-the-password")
	if resp.Request.URL.Path != "/login/username" {
		t.Errorf("ended at %s, want the OP login form", resp.Request.URL)
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.done) != 0 {
		t.Errorf("callback got %d codes for a wrong password", len(rp.done))
	}
}

func TestRefreshToken(t *testing.T) {
	rp := startRP(t, testenv.OPOptions{})
	tok, _ := rp.exchange(t, rp.signIn(t, testenv.VIPUsername, testenv.VIPPassword))
	if tok.RefreshToken == "" {
		t.Fatal("code exchange with offline_access returned no refresh token")
	}

	// Expiry in the past makes the token source refresh at once.
	stale := &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	fresh, err := rp.oauth.TokenSource(t.Context(), stale).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.AccessToken == "" || fresh.AccessToken == tok.AccessToken {
		t.Errorf("refreshed access token %q, want a new one", fresh.AccessToken)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Errorf("refreshed refresh token %q, want a rotated one", fresh.RefreshToken)
	}
	idt := rp.verifyIDToken(t, fresh)
	assertClaims(t, "refreshed id_token", claimsOf(t, idt.Claims), map[string]any{"email": "vip@example.com", "cart_value": 10000.0})

	info, err := rp.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(fresh))
	if err != nil {
		t.Fatalf("userinfo with refreshed token: %v", err)
	}
	if info.Email != "vip@example.com" {
		t.Errorf("userinfo email = %q", info.Email)
	}

	// Rotation: the spent refresh token must not work twice.
	if _, err := rp.oauth.TokenSource(t.Context(), stale).Token(); err == nil {
		t.Error("second use of a rotated refresh token succeeded")
	}
}

func TestAccessTokenLifetime(t *testing.T) {
	t.Parallel()
	t.Run("expires_in announces the lifetime", func(t *testing.T) {
		rp := startRP(t, testenv.OPOptions{AccessTokenLifetime: 90 * time.Second})
		tok, _ := rp.exchange(t, rp.signIn(t, testenv.VIPUsername, testenv.VIPPassword))
		n, ok := tok.Extra("expires_in").(float64)
		if !ok || n > 90 || n < 80 {
			t.Errorf("expires_in = %#v, want about 90", tok.Extra("expires_in"))
		}
	})
	t.Run("userinfo refuses an expired access token", func(t *testing.T) {
		rp := startRP(t, testenv.OPOptions{AccessTokenLifetime: time.Second})
		tok, _ := rp.exchange(t, rp.signIn(t, testenv.VIPUsername, testenv.VIPPassword))
		time.Sleep(1100 * time.Millisecond)
		if _, err := rp.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("userinfo accepted an expired access token")
		}
	})
}

func TestEndSessionRedirectsToPostLogoutURI(t *testing.T) {
	rp := startRP(t, testenv.OPOptions{})
	tok, _ := rp.exchange(t, rp.signIn(t, testenv.VIPUsername, testenv.VIPPassword))
	var doc struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := rp.provider.Claims(&doc); err != nil || doc.EndSession == "" {
		t.Fatalf("end_session_endpoint = %q (%v)", doc.EndSession, err)
	}
	q := url.Values{
		"id_token_hint":            {tok.Extra("id_token").(string)},
		"post_logout_redirect_uri": {rp.srv.URL + loggedOutPath},
		"state":                    {"s1"},
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(doc.EndSession + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("end_session status = %d, want 302", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Location"), rp.srv.URL+loggedOutPath+"?state=s1"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
}

func TestStopTakesTheOPDown(t *testing.T) {
	op := testenv.StartOP(t, testenv.OPOptions{})
	if _, status := getJSON(t, op.DiscoveryURL()); status != http.StatusOK {
		t.Fatalf("discovery before Stop = %d", status)
	}
	op.Stop()
	op.Stop() // idempotent
	if _, err := oidc.NewProvider(t.Context(), op.Issuer); err == nil {
		t.Fatal("discovery succeeded after Stop")
	}

	// The IdP comes back at the same address, as a proxy expects it.
	again := testenv.StartOP(t, testenv.OPOptions{Addr: op.Addr})
	if again.Issuer != op.Issuer {
		t.Errorf("restarted issuer = %q, want %q", again.Issuer, op.Issuer)
	}
	if _, err := oidc.NewProvider(t.Context(), again.Issuer); err != nil {
		t.Errorf("discovery after restart: %v", err)
	}
}

func TestBrowserReadsPageTitle(t *testing.T) {
	t.Parallel()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>testenv page</title><p>hi</p>`)
	}))
	t.Cleanup(page.Close)

	ctx := testenv.Browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	if title != "testenv page" {
		t.Errorf("document.title = %q, want %q", title, "testenv page")
	}
}

// The browser must be able to finish the OP's real form, as end-to-end
// tests of the proxy do.
func TestBrowserCompletesOPLogin(t *testing.T) {
	t.Parallel()
	rp := startRP(t, testenv.OPOptions{})
	ctx := testenv.Browser(t)
	loc := testenv.BrowserLogin(t, ctx, rp.srv.URL+"/login", testenv.VIPUsername, testenv.VIPPassword)
	if u, err := url.Parse(loc); err != nil || u.Path != callbackPath {
		t.Errorf("browser ended at %s, want %s", loc, callbackPath)
	}
	f := func() int { rp.mu.Lock(); defer rp.mu.Unlock(); return len(rp.done) }()
	if f != 1 {
		t.Errorf("callback recorded %d codes, want 1", f)
	}
}

// Back-channel logout names the IdP session by the ID token's sid: each
// sign-in has its own, and its refreshes keep it.
func TestIDTokenSID(t *testing.T) {
	rp := startRP(t, testenv.OPOptions{})
	tok, idt := rp.exchange(t, rp.signIn(t, testenv.VIPUsername, testenv.VIPPassword))
	sid, _ := claimsOf(t, idt.Claims)["sid"].(string)
	if sid == "" {
		t.Fatalf("id_token has no sid: %v", claimsOf(t, idt.Claims))
	}
	fresh, err := rp.oauth.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if got := claimsOf(t, rp.verifyIDToken(t, fresh).Claims)["sid"]; got != sid {
		t.Errorf("refreshed id_token sid = %v, want the sign-in's %q", got, sid)
	}
	_, other := rp.exchange(t, rp.signIn(t, testenv.VIPUsername, testenv.VIPPassword))
	if got := claimsOf(t, other.Claims)["sid"]; got == sid || got == nil {
		t.Errorf("a second sign-in has sid %v, want a new one (first: %q)", got, sid)
	}
}

// Sign makes tokens the provider's own JWKS verifies, with its kid.
func TestSignVerifiesWithTheOPKeys(t *testing.T) {
	rp := startRP(t, testenv.OPOptions{})
	raw, err := rp.op.Sign(map[string]any{
		"iss": rp.op.Issuer, "aud": rp.op.ClientID, "sub": "someone",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(), "jti": "j-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	idt, err := rp.provider.Verifier(&oidc.Config{ClientID: rp.op.ClientID}).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("the OP's keys do not verify its Sign: %v", err)
	}
	if idt.Subject != "someone" {
		t.Errorf("sub = %q", idt.Subject)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if kid := jws.Signatures[0].Header.KeyID; kid == "" || kid != rp.op.KeyID() {
		t.Errorf("kid = %q, want the OP's %q", kid, rp.op.KeyID())
	}
}
