package e2e

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// verifyWithPublishedKey checks tok the way Omnichannel does: with the PEM
// from the public key URL, RS256 only.
func verifyWithPublishedKey(t *testing.T, e *env, tok string) jwt.MapClaims {
	t.Helper()
	resp := testenv.Do(t, &http.Client{}, "GET", e.URL+"/_lcw/public-key.pem", nil)
	pemText := body(t, resp)
	pub, err := jwt.ParseRSAPublicKeyFromPEM([]byte(pemText))
	if err != nil {
		t.Fatalf("public-key.pem: %v\n%s", err, pemText)
	}
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return (*rsa.PublicKey)(pub), nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		t.Fatalf("token does not verify with the published key: %v", err)
	}
	if parsed.Header["kid"] == nil || parsed.Header["typ"] != "JWT" {
		t.Errorf("header %v", parsed.Header)
	}
	return claims
}

func TestLoginToChatToken(t *testing.T) {
	e := startEnv(t, envOptions{})
	sameOrigin := map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
	tests := []struct {
		user, pass string
		sub        string
		contexts   map[string]any
	}{
		{testenv.VIPUsername, testenv.VIPPassword, "3f1c9a52-7d6e-4b8f-9a01-5e2d4c6b8a73",
			map[string]any{"customer_email": "vip@example.com", "customer_name": "Vera Important", "msdyn_isvip": true, "region": "EU"}},
		{testenv.CustomerUsername, testenv.CustomerPassword, "a9e4b7c1-0d3f-4e28-8b6a-2c5f7d9e1a04",
			map[string]any{"customer_email": "customer@example.com", "customer_name": "Carl Customer", "msdyn_isvip": false, "region": "EU"}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			c, _ := e.login(t, tt.user, tt.pass, "/")
			// Nothing the browser sends can change the token: not the query,
			// not identity headers.
			resp := testenv.Do(t, c, "GET", e.URL+"/_lcw/token?sub=admin&lwicontexts=%7B%7D&msdyn_isvip=true", map[string]string{
				"Sec-Fetch-Site": "same-origin", "X-Forwarded-Email": "vip@example.com", "X-Forwarded-User": "admin",
			})
			tok := body(t, resp)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/jwt" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("token: %d %q %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), tok)
			}
			claims := verifyWithPublishedKey(t, e, tok)
			if claims["sub"] != tt.sub || claims["iss"] != "shop.example.com" {
				t.Errorf("sub/iss = %v/%v", claims["sub"], claims["iss"])
			}
			lwi, ok := claims["lwicontexts"].(string)
			if !ok {
				t.Fatalf("lwicontexts is %T, want a string", claims["lwicontexts"])
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(lwi), &got); err != nil {
				t.Fatalf("lwicontexts %q: %v", lwi, err)
			}
			if len(got) != len(tt.contexts) {
				t.Errorf("lwicontexts %v, want %v", got, tt.contexts)
			}
			for k, v := range tt.contexts {
				if got[k] != v {
					t.Errorf("lwicontexts[%s] = %#v, want %#v", k, got[k], v)
				}
			}
			iat, nbf, exp := claims["iat"].(float64), claims["nbf"].(float64), claims["exp"].(float64)
			if nbf > iat || exp-iat != 600 || time.Unix(int64(exp), 0).Before(time.Now().Add(9*time.Minute)) {
				t.Errorf("iat %v nbf %v exp %v", iat, nbf, exp)
			}
			// JSON form for clients that ask for it; a fresh token each call.
			resp = testenv.Do(t, c, "GET", e.URL+"/_lcw/token", map[string]string{"Accept": "application/json", "Sec-Fetch-Site": "same-origin"})
			var js struct {
				Token     string `json:"token"`
				ExpiresAt int64  `json:"expires_at"`
			}
			if err := json.Unmarshal([]byte(body(t, resp)), &js); err != nil || js.Token == "" || js.ExpiresAt < time.Now().Unix() {
				t.Fatalf("JSON token: %v %+v", err, js)
			}
			verifyWithPublishedKey(t, e, js.Token)
			// Cross-site requests get nothing, even with the cookie.
			for _, hdr := range []map[string]string{
				{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "https://evil.example"}, {"Origin": "null"},
			} {
				if r := testenv.Do(t, c, "GET", e.URL+"/_lcw/token", hdr); r.StatusCode != http.StatusForbidden {
					t.Errorf("cross-site %v: %d", hdr, r.StatusCode)
				}
			}
			if r := testenv.Do(t, c, "POST", e.URL+"/_lcw/token", sameOrigin); r.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("POST token: %d", r.StatusCode)
			}
			// The session endpoint shows what the next token carries.
			var sess struct {
				Subject     string         `json:"subject"`
				LWIContexts map[string]any `json:"lwicontexts"`
			}
			r := testenv.Do(t, c, "GET", e.URL+"/_lcw/session", nil)
			if err := json.Unmarshal([]byte(body(t, r)), &sess); err != nil || sess.Subject != tt.sub || sess.LWIContexts["customer_email"] != tt.contexts["customer_email"] {
				t.Errorf("session endpoint: %v %+v", err, sess)
			}
		})
	}
	t.Run("no session", func(t *testing.T) {
		r := testenv.Do(t, &http.Client{}, "GET", e.URL+"/_lcw/token", sameOrigin)
		if b := body(t, r); r.StatusCode != http.StatusUnauthorized || strings.Contains(b, "eyJ") {
			t.Fatalf("anonymous token: %d %s", r.StatusCode, b)
		}
	})
	t.Run("key documents need no login", func(t *testing.T) {
		for _, p := range []string{"/_lcw/public-key.pem", "/_lcw/public-keys", "/_lcw/jwks.json"} {
			if r := testenv.Do(t, &http.Client{}, "GET", e.URL+p, nil); r.StatusCode != 200 {
				t.Errorf("%s: %d", p, r.StatusCode)
			}
		}
	})
}

// In optional mode a signed-in user the rules refuse browses as anonymous:
// no chat token and no identity headers at the upstream.
func TestUnauthorizedUserGetsNoTokenNorIdentity(t *testing.T) {
	e := startEnv(t, envOptions{Extra: "access:\n  mode: optional\n  required_groups: [staff]\nheaders:\n  pass: true\n"})
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	if r := testenv.Do(t, c, "GET", e.URL+"/_lcw/token", map[string]string{"Sec-Fetch-Site": "same-origin"}); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token for a user outside required_groups: %d", r.StatusCode)
	}
	got := body(t, testenv.Do(t, c, "GET", e.URL+"/page", navigate))
	if !strings.Contains(got, "upstream saw GET /page") {
		t.Fatalf("page not served: %s", got)
	}
	for _, h := range []string{"X-Forwarded-User: \n", "X-Forwarded-Email: \n", "X-Forwarded-Groups: \n"} {
		if !strings.Contains(got, h) {
			t.Errorf("identity of a refused user reached the upstream (want %q empty):\n%s", strings.TrimSpace(h), got)
		}
	}
}

// Someone who opens the token endpoint in a tab learns what it is for and
// where to look instead; a page of another site still gets a plain refusal.
func TestTokenEndpointInABrowserTab(t *testing.T) {
	e := startEnv(t, envOptions{})
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	tab := testenv.Do(t, c, "GET", e.URL+"/_lcw/token", map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Accept": "text/html"})
	b := body(t, tab)
	if tab.StatusCode != http.StatusForbidden || !strings.Contains(b, "/_lcw/session") || strings.HasPrefix(b, "eyJ") {
		t.Fatalf("token endpoint in a tab: %d %q", tab.StatusCode, b)
	}
	if !strings.HasPrefix(tab.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type %q: the browser would download it", tab.Header.Get("Content-Type"))
	}
	cross := testenv.Do(t, c, "GET", e.URL+"/_lcw/token", map[string]string{"Sec-Fetch-Site": "cross-site"})
	if b := body(t, cross); cross.StatusCode != http.StatusForbidden || strings.Contains(b, "session") {
		t.Errorf("cross-site: %d %q", cross.StatusCode, b)
	}
}
