package token

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// serve mounts the handlers the way the proxy does (proxy/routes.go), on a
// real loopback server: the mux answers the methods a route does not take.
func serve(t testing.TB, f *fixture, who IdentityFunc) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	mux.Handle("/_lcw/token", TokenHandler(f.minter, who, HandlerOptions{PublicOrigin: srv.URL, Metrics: f.metrics}))
	mux.Handle("GET /_lcw/public-key.pem", PublicKeyPEMHandler(f.keys))
	mux.Handle("GET /_lcw/public-keys", PublicKeysHandler(f.keys))
	mux.Handle("GET /_lcw/jwks.json", JWKSHandler(f.keys))
	mux.Handle("GET /_lcw/session", SessionHandler(f.minter, who, HandlerOptions{PublicOrigin: srv.URL}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t testing.TB, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// Independent readers of each published format: none of them uses this
// package's parsing code.
var keyReaders = map[string]struct {
	path string
	read func(t testing.TB, body []byte) map[string]*rsa.PublicKey // kid "" matches any
}{
	"pem": {"/_lcw/public-key.pem", func(t testing.TB, body []byte) map[string]*rsa.PublicKey {
		k, err := jwt.ParseRSAPublicKeyFromPEM(body)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]*rsa.PublicKey{"": k}
	}},
	"omnichannel array": {"/_lcw/public-keys", func(t testing.TB, body []byte) map[string]*rsa.PublicKey {
		var doc []struct {
			Kid       string `json:"kid"`
			PublicKey string `json:"publicKey"`
			Expiry    int64  `json:"expiry"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		out := map[string]*rsa.PublicKey{}
		for _, e := range doc {
			pemText, err := base64.StdEncoding.DecodeString(e.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			k, err := jwt.ParseRSAPublicKeyFromPEM(pemText)
			if err != nil {
				t.Fatal(err)
			}
			if e.Expiry <= testNow.Unix() {
				t.Fatalf("key %s published with expiry %d in the past", e.Kid, e.Expiry)
			}
			out[e.Kid] = k
		}
		return out
	}},
	"jwks": {"/_lcw/jwks.json", func(t testing.TB, body []byte) map[string]*rsa.PublicKey {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(body, &set); err != nil {
			t.Fatal(err)
		}
		out := map[string]*rsa.PublicKey{}
		for _, k := range set.Keys {
			if k.Algorithm != "RS256" || k.Use != "sig" {
				t.Fatalf("JWK %s has alg %q use %q", k.KeyID, k.Algorithm, k.Use)
			}
			out[k.KeyID] = k.Key.(*rsa.PublicKey)
		}
		return out
	}},
}

func fetchKeys(t testing.TB, srv *httptest.Server, format string) map[string]*rsa.PublicKey {
	t.Helper()
	kr := keyReaders[format]
	resp, body := get(t, srv.URL+kr.path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", kr.path, resp.Status)
	}
	return kr.read(t, body)
}

// parseIndependently verifies tok with golang-jwt's own parser, RS256 only.
func parseIndependently(t testing.TB, tok string, pub map[string]*rsa.PublicKey) (*jwt.Token, jwt.MapClaims, error) {
	t.Helper()
	mc := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, mc, func(tk *jwt.Token) (any, error) {
		if k, ok := pub[""]; ok {
			return k, nil
		}
		kid, _ := tk.Header["kid"].(string)
		if k, ok := pub[kid]; ok {
			return k, nil
		}
		return nil, errors.New("unknown kid " + kid)
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return testNow }),
		jwt.WithIssuer("shop.example.com"), jwt.WithSubject("87b4d06c-abc2-e811-a9b0-000d3a10e09e"),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	return parsed, mc, err
}

func TestTokenVerifiesWithEveryPublishedFormat(t *testing.T) {
	f := newFixture(t, nil, nil)
	srv := serve(t, f, signedIn(userClaims()))
	resp, body := get(t, srv.URL+"/_lcw/token", map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %s %s", resp.Status, body)
	}
	tok := string(body)
	for format := range keyReaders {
		t.Run(format, func(t *testing.T) {
			parsed, mc, err := parseIndependently(t, tok, fetchKeys(t, srv, format))
			if err != nil {
				t.Fatalf("independent parse: %v", err)
			}
			wantKid := keys.Thumbprint(&testKey(t, 0).PublicKey)
			if parsed.Header["alg"] != "RS256" || parsed.Header["typ"] != "JWT" || parsed.Header["kid"] != wantKid {
				t.Fatalf("header = %v", parsed.Header)
			}
			iat, nbf, exp := mc["iat"].(float64), mc["nbf"].(float64), mc["exp"].(float64)
			if int64(iat) != testNow.Unix() || iat-nbf != 60 || exp-iat != 600 {
				t.Fatalf("iat %v nbf %v exp %v: want nbf = iat-60s, exp = iat+10m", iat, nbf, exp)
			}
			if _, ok := mc["aud"]; ok {
				t.Fatal("aud present without token.audience")
			}
			lwi, ok := mc["lwicontexts"].(string)
			if !ok {
				t.Fatalf("lwicontexts is %T, want a string", mc["lwicontexts"])
			}
			const want = `{"customer_email":"vip@example.com","customer_name":"Ada Lovelace","msdyn_isvip":true,"region":"EU"}`
			if lwi != want {
				t.Fatalf("lwicontexts = %s, want %s", lwi, want)
			}
		})
	}
	if n := testutil.ToFloat64(f.metrics.Tokens.WithLabelValues("issued")); n != 1 {
		t.Fatalf("issued counted %v", n)
	}
	if n := testutil.CollectAndCount(f.metrics.TokenSignDuration); n != 1 {
		t.Fatalf("sign duration series %d", n)
	}
}

func TestMintClaims(t *testing.T) {
	cases := []struct {
		name   string
		cfg    func(*config.Token)
		claims func(map[string]any)
		check  func(t *testing.T, mc jwt.MapClaims, err error)
	}{
		{"audience when configured", func(c *config.Token) { c.Audience = "omnichannel" }, nil, func(t *testing.T, mc jwt.MapClaims, err error) {
			if err != nil || mc["aud"] != "omnichannel" {
				t.Fatalf("aud = %v (%v), want the single string omnichannel", mc["aud"], err)
			}
		}},
		{"no skew: nbf = iat", func(c *config.Token) { c.NotBeforeSkew = 0 }, nil, func(t *testing.T, mc jwt.MapClaims, err error) {
			if err != nil || mc["nbf"] != mc["iat"] {
				t.Fatalf("nbf %v iat %v", mc["nbf"], mc["iat"])
			}
		}},
		{"lifetime", func(c *config.Token) { c.Lifetime = config.Duration(15 * time.Minute) }, nil, func(t *testing.T, mc jwt.MapClaims, err error) {
			if err != nil || mc["exp"].(float64)-mc["iat"].(float64) != 900 {
				t.Fatalf("exp-iat = %v", mc["exp"].(float64)-mc["iat"].(float64))
			}
		}},
		{"subject from another claim", func(c *config.Token) { c.SubjectClaim = "ext.contact_id" }, func(c map[string]any) {
			c["ext"] = map[string]any{"contact_id": "87b4d06c-abc2-e811-a9b0-000d3a10e09e"}
			c["sub"] = "idp-subject"
		}, func(t *testing.T, mc jwt.MapClaims, err error) {
			if err != nil || mc["sub"] != "87b4d06c-abc2-e811-a9b0-000d3a10e09e" {
				t.Fatalf("sub = %v (%v)", mc["sub"], err)
			}
		}},
		{"no rules: empty object", func(c *config.Token) { c.LWIContexts = nil }, nil, func(t *testing.T, mc jwt.MapClaims, err error) {
			if err != nil || mc["lwicontexts"] != "{}" {
				t.Fatalf("lwicontexts = %v", mc["lwicontexts"])
			}
		}},
		{"wrong claim type leaves only that key out", nil, func(c map[string]any) { c["name"] = map[string]any{"given": "Ada"} }, func(t *testing.T, mc jwt.MapClaims, err error) {
			if err != nil || mc["lwicontexts"] != `{"customer_email":"vip@example.com","msdyn_isvip":true,"region":"EU"}` {
				t.Fatalf("lwicontexts = %v (%v)", mc["lwicontexts"], err)
			}
		}},
		{"missing subject", nil, func(c map[string]any) { delete(c, "sub") }, func(t *testing.T, mc jwt.MapClaims, err error) {
			if !errors.Is(err, ErrNoSubject) || !strings.Contains(err.Error(), `"sub" claim is missing or not a string`) {
				t.Fatalf("err = %v, want ErrNoSubject naming the claim", err)
			}
		}},
		{"non-string subject", nil, func(c map[string]any) { c["sub"] = 42.0 }, func(t *testing.T, mc jwt.MapClaims, err error) {
			if !errors.Is(err, ErrNoSubject) {
				t.Fatalf("err = %v, want ErrNoSubject", err)
			}
		}},
		{"empty subject", nil, func(c map[string]any) { c["sub"] = "" }, func(t *testing.T, mc jwt.MapClaims, err error) {
			if !errors.Is(err, ErrNoSubject) {
				t.Fatalf("err = %v, want ErrNoSubject", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg, nil)
			c := userClaims()
			if tc.claims != nil {
				tc.claims(c)
			}
			tok, exp, err := f.minter.Mint(context.Background(), c)
			if err != nil {
				if tok != "" {
					t.Fatal("a token came back with an error")
				}
				tc.check(t, nil, err)
				return
			}
			mc := jwt.MapClaims{}
			_, err = jwt.ParseWithClaims(tok, mc, func(*jwt.Token) (any, error) { return &testKey(t, 0).PublicKey, nil },
				jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return testNow }))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if exp.Unix() != int64(mc["exp"].(float64)) {
				t.Fatalf("returned expiry %v != exp claim %v", exp.Unix(), mc["exp"])
			}
			tc.check(t, mc, nil)
		})
	}
}

func TestMintIsFreshEachCall(t *testing.T) {
	f := newFixture(t, nil, nil)
	a, _, err := f.minter.Mint(context.Background(), userClaims())
	if err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Second)
	b, expB, _ := f.minter.Mint(context.Background(), userClaims())
	if a == b || expB.Unix() != testNow.Add(time.Second+10*time.Minute).Unix() {
		t.Fatal("the second call did not mint a new token from the current time")
	}
}

// TestRotationWhileServing rewrites the key file under a running server:
// the new key signs, tokens signed before still verify with the published
// documents until the grace period ends.
func TestRotationWhileServing(t *testing.T) {
	f := newFixture(t, func(c *config.Token) { c.RetiredKeyGrace = config.Duration(time.Hour) }, nil)
	srv := serve(t, f, signedIn(userClaims()))
	_, oldTok := get(t, srv.URL+"/_lcw/token", nil)
	oldKid := keys.Thumbprint(&testKey(t, 0).PublicKey)
	newKid := keys.Thumbprint(&testKey(t, 1).PublicKey)

	writeKey(t, f.keyFile, testKey(t, 1))
	if err := f.keys.Reload(); err != nil {
		t.Fatal(err)
	}
	_, newTok := get(t, srv.URL+"/_lcw/token", nil)
	parsed, _, _ := jwt.NewParser().ParseUnverified(string(newTok), jwt.MapClaims{})
	if parsed.Header["kid"] != newKid {
		t.Fatalf("after rotation kid = %v, want %s", parsed.Header["kid"], newKid)
	}
	for _, format := range []string{"omnichannel array", "jwks"} {
		pub := fetchKeys(t, srv, format)
		if len(pub) != 2 || pub[oldKid] == nil || pub[newKid] == nil {
			t.Fatalf("%s publishes %d keys, want old and new", format, len(pub))
		}
		for name, tok := range map[string][]byte{"old": oldTok, "new": newTok} {
			if _, _, err := parseIndependently(t, string(tok), pub); err != nil {
				t.Fatalf("%s: %s token does not verify: %v", format, name, err)
			}
		}
	}
	if pem := fetchKeys(t, srv, "pem")[""]; !pem.Equal(&testKey(t, 1).PublicKey) {
		t.Fatal("public-key.pem does not serve the new signing key")
	}

	f.keyNow = f.keyNow.Add(time.Hour + time.Second)
	_ = f.keys.Reload()
	pub := fetchKeys(t, srv, "jwks")
	if len(pub) != 1 || pub[newKid] == nil {
		t.Fatalf("after the grace period %d keys are published, want only the new one", len(pub))
	}
	if _, _, err := parseIndependently(t, string(oldTok), pub); err == nil {
		t.Fatal("a token of the retired key still verifies after the grace period")
	}
}

func TestTokenEndpointRequests(t *testing.T) {
	cases := []struct {
		name       string
		method     string
		header     map[string]string
		noSession  bool
		wantStatus int
		wantType   string // Content-Type prefix
		wantMetric string
	}{
		{"same-origin fetch", "GET", map[string]string{"Sec-Fetch-Site": "same-origin"}, false, 200, "application/jwt", "issued"},
		{"no fetch metadata (old browser, curl)", "GET", nil, false, 200, "application/jwt", "issued"},
		{"own origin", "GET", map[string]string{"Origin": "{origin}"}, false, 200, "application/jwt", "issued"},
		{"own origin in other case", "GET", map[string]string{"Origin": "{ORIGIN}"}, false, 200, "application/jwt", "issued"},
		{"cross-site", "GET", map[string]string{"Sec-Fetch-Site": "cross-site"}, false, 403, "text/plain", "forbidden"},
		{"same-site (sibling subdomain)", "GET", map[string]string{"Sec-Fetch-Site": "same-site"}, false, 403, "text/plain", "forbidden"},
		{"typed into the address bar", "GET", map[string]string{"Sec-Fetch-Site": "none"}, false, 403, "text/plain", "forbidden"},
		{"foreign Origin", "GET", map[string]string{"Origin": "https://evil.example"}, false, 403, "text/plain", "forbidden"},
		{"null Origin", "GET", map[string]string{"Origin": "null"}, false, 403, "text/plain", "forbidden"},
		{"origin with other port", "GET", map[string]string{"Origin": "{origin}0"}, false, 403, "text/plain", "forbidden"},
		{"same-origin header but foreign Origin", "GET", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"}, false, 403, "text/plain", "forbidden"},
		{"cross-site without session is still 403", "GET", map[string]string{"Sec-Fetch-Site": "cross-site"}, true, 403, "text/plain", "forbidden"},
		{"no session", "GET", nil, true, 401, "text/plain", "unauthenticated"},
		{"no session, JSON", "GET", map[string]string{"Accept": "application/json"}, true, 401, "application/json", "unauthenticated"},
		{"POST", "POST", nil, false, 405, "text/plain", "method_not_allowed"},
		{"PUT", "PUT", nil, false, 405, "text/plain", "method_not_allowed"},
		{"DELETE", "DELETE", nil, false, 405, "text/plain", "method_not_allowed"},
		{"OPTIONS preflight", "OPTIONS", map[string]string{"Origin": "https://evil.example"}, false, 405, "text/plain", "method_not_allowed"},
		{"HEAD", "HEAD", nil, false, 200, "application/jwt", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newFixture(t, nil, nil)
			who := signedIn(userClaims())
			if tc.noSession {
				who = func(*http.Request) (Identity, error) { return Identity{}, ErrNotSignedIn }
			}
			const origin = "https://Shop.example.com:8443"
			h := TokenHandler(m.minter, who, HandlerOptions{PublicOrigin: strings.ToLower(origin), Metrics: m.metrics})
			req := httptest.NewRequest(tc.method, "https://shop.example.com:8443/_lcw/token", nil)
			for k, v := range tc.header {
				v = strings.ReplaceAll(v, "{origin}", strings.ToLower(origin))
				v = strings.ReplaceAll(v, "{ORIGIN}", strings.ToUpper(origin))
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
				t.Fatalf("Content-Type %q, want %s", ct, tc.wantType)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatal("Cache-Control is not no-store")
			}
			if v := rec.Header().Get("Vary"); !strings.Contains(v, "Origin") || !strings.Contains(v, "Accept") || !strings.Contains(v, "Cookie") {
				t.Fatalf("Vary = %q", v)
			}
			if tc.wantStatus == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Fatalf("Allow = %q", rec.Header().Get("Allow"))
			}
			if tc.wantStatus != 200 && strings.Count(rec.Body.String(), ".") == 2 && strings.HasPrefix(rec.Body.String(), "eyJ") {
				t.Fatal("an error response carries a token")
			}
			if tc.method == "HEAD" && rec.Body.Len() != 0 {
				t.Fatal("HEAD has a body")
			}
			if tc.wantMetric != "" {
				if n := testutil.ToFloat64(m.metrics.Tokens.WithLabelValues(tc.wantMetric)); n != 1 {
					t.Fatalf("tokens_total{result=%s} = %v", tc.wantMetric, n)
				}
			}
		})
	}
}

func TestTokenEndpointResponseForms(t *testing.T) {
	cases := []struct {
		accept string
		json   bool
	}{
		{"", false},
		{"*/*", false},
		{"application/jwt", false},
		{"text/plain", false},
		{"application/json", true},
		{"application/json, text/plain, */*", true},
		{"application/jwt, application/json;q=0.5", false},
		{"application/jwt;q=0.2, application/json", true},
		{"application/json;q=0", false},
	}
	f := newFixture(t, nil, nil)
	h := TokenHandler(f.minter, signedIn(userClaims()), HandlerOptions{PublicOrigin: "https://shop.example.com", Metrics: f.metrics})
	for _, tc := range cases {
		t.Run(tc.accept, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/_lcw/token", nil)
			req.Header.Set("Accept", tc.accept)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var tok string
			if tc.json {
				if rec.Header().Get("Content-Type") != "application/json" {
					t.Fatalf("Content-Type %q", rec.Header().Get("Content-Type"))
				}
				var body struct {
					Token     string `json:"token"`
					ExpiresAt int64  `json:"expires_at"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatal(err)
				}
				if body.ExpiresAt != testNow.Add(10*time.Minute).Unix() {
					t.Fatalf("expires_at = %d", body.ExpiresAt)
				}
				tok = body.Token
			} else {
				if rec.Header().Get("Content-Type") != "application/jwt" {
					t.Fatalf("Content-Type %q", rec.Header().Get("Content-Type"))
				}
				tok = rec.Body.String()
			}
			if _, _, err := parseIndependently(t, tok, map[string]*rsa.PublicKey{"": &testKey(t, 0).PublicKey}); err != nil {
				t.Fatalf("token does not verify: %v", err)
			}
		})
	}
}

// TestBrowserInputNeverReachesTheToken sends everything a page could
// control; the token must carry only what the session's identity says.
func TestBrowserInputNeverReachesTheToken(t *testing.T) {
	f := newFixture(t, func(c *config.Token) {
		c.LWIContexts["plan"] = config.ContextRule{Claim: "plan", Default: "basic"}
	}, nil)
	srv := serve(t, f, signedIn(userClaims()))
	req, _ := http.NewRequest("GET", srv.URL+"/_lcw/token?sub=attacker&lwicontexts=%7B%7D&plan=gold&email=vip@example.com", nil)
	req.Header.Set("X-Forwarded-Email", "ceo@example.com")
	req.Header.Set("X-Forwarded-User", "attacker")
	req.Header.Set("Authorization", "Bearer forged")
	req.AddCookie(&http.Cookie{Name: "plan", Value: "gold"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, mc, err := parseIndependently(t, string(body), map[string]*rsa.PublicKey{"": &testKey(t, 0).PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if mc["lwicontexts"] != `{"customer_email":"vip@example.com","customer_name":"Ada Lovelace","msdyn_isvip":true,"plan":"basic","region":"EU"}` {
		t.Fatalf("lwicontexts = %v", mc["lwicontexts"])
	}
}

func TestKeyEndpoints(t *testing.T) {
	f := newFixture(t, nil, nil)
	srv := serve(t, f, signedIn(userClaims()))
	for format, kr := range keyReaders {
		t.Run(format, func(t *testing.T) {
			resp, body := get(t, srv.URL+kr.path, nil)
			if resp.StatusCode != 200 {
				t.Fatal(resp.Status)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
				t.Fatalf("Cache-Control %q", cc)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatal("no Access-Control-Allow-Origin: *")
			}
			etag := resp.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			pub := kr.read(t, body)
			if len(pub) != 1 {
				t.Fatalf("%d keys", len(pub))
			}
			for _, k := range pub {
				if !k.Equal(&testKey(t, 0).PublicKey) {
					t.Fatal("published key is not the signing key")
				}
			}
			again, _ := get(t, srv.URL+kr.path, map[string]string{"If-None-Match": etag})
			if again.StatusCode != http.StatusNotModified {
				t.Fatalf("If-None-Match: %s, want 304", again.Status)
			}
			req, _ := http.NewRequest("POST", srv.URL+kr.path, nil)
			post, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			post.Body.Close()
			if post.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("POST: %s", post.Status)
			}
		})
	}
	_, pemBody := get(t, srv.URL+"/_lcw/public-key.pem", nil)
	if !strings.HasPrefix(string(pemBody), "-----BEGIN PUBLIC KEY-----\n") {
		t.Fatalf("public-key.pem is not SPKI PEM:\n%s", pemBody)
	}
}

func TestSessionHandler(t *testing.T) {
	f := newFixture(t, func(c *config.Token) {
		c.LWIContexts["phone"] = config.ContextRule{Claim: "phone_number"}
	}, nil)
	srv := serve(t, f, signedIn(userClaims()))
	resp, body := get(t, srv.URL+"/_lcw/session", map[string]string{"Sec-Fetch-Site": "none"})
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
	var got struct {
		Subject     string           `json:"subject"`
		ExpiresAt   int64            `json:"expires_at"`
		LWIContexts map[string]any   `json:"lwicontexts"`
		Problems    []claims.Problem `json:"problems"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Subject != "87b4d06c-abc2-e811-a9b0-000d3a10e09e" || got.ExpiresAt != testNow.Add(12*time.Hour).Unix() {
		t.Fatalf("session = %s", body)
	}
	if got.LWIContexts["msdyn_isvip"] != true || got.LWIContexts["region"] != "EU" {
		t.Fatalf("lwicontexts = %v", got.LWIContexts)
	}
	if len(got.Problems) != 1 || got.Problems[0] != (claims.Problem{Key: "phone", Reason: claims.ReasonMissing}) {
		t.Fatalf("problems = %s", body)
	}

	cross, _ := get(t, srv.URL+"/_lcw/session", map[string]string{"Sec-Fetch-Site": "cross-site"})
	if cross.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site: %s", cross.Status)
	}
	anon := httptest.NewRecorder()
	SessionHandler(f.minter, func(*http.Request) (Identity, error) { return Identity{}, ErrNotSignedIn }, HandlerOptions{}).ServeHTTP(anon, httptest.NewRequest("GET", "/_lcw/session", nil))
	if anon.Code != http.StatusUnauthorized {
		t.Fatalf("no session: %d", anon.Code)
	}
}
