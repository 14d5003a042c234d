package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// get fetches url with c and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, string(b)
}

// verifiedToken checks jwtText's signature with the PEM the demo publishes
// at {prefix}/public-key.pem, as Omnichannel would, and returns its claims.
func verifiedToken(t *testing.T, d *demo, jwtText string) jwt.MapClaims {
	t.Helper()
	resp, pemText := get(t, http.DefaultClient, d.URL+prefix+"/public-key.pem")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("public-key.pem status %d", resp.StatusCode)
	}
	pub, err := jwt.ParseRSAPublicKeyFromPEM([]byte(pemText))
	if err != nil {
		t.Fatalf("public-key.pem: %v", err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(jwtText, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(d.URL), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		t.Fatalf("token does not verify with the published key: %v\n%s", err, jwtText)
	}
	return claims
}

func TestSignedInUsersGetTheirContexts(t *testing.T) {
	d := startDemo(t)
	tests := []struct {
		username, password string
		email              string // what the site shows, from the proxy's identity header
		wantSub            string
		want               map[string]any // lwicontexts, after JSON decoding
		absent             []string
	}{
		{
			username: devidp.VIPUsername, password: devidp.VIPPassword, email: "vip@example.com",
			wantSub: "3f1c9a52-7d6e-4b8f-9a01-5e2d4c6b8a73",
			want: map[string]any{
				"customer_email": "vip@example.com", "customer_name": "Vera Important", "msdyn_isvip": true,
				"msdyn_cartvalue": float64(10000), "contact_id": "87b4d06c-2f5e-4c1a-b7d3-9e0f6a1c2b45", "region": "EU",
			},
		},
		{
			username: devidp.CustomerUsername, password: devidp.CustomerPassword, email: "customer@example.com",
			wantSub: "a9e4b7c1-0d3f-4e28-8b6a-2c5f7d9e1a04",
			want: map[string]any{
				"customer_email": "customer@example.com", "msdyn_isvip": false, "msdyn_cartvalue": 25.5,
				"contact_id": "5b2d8e6f-9a1c-4f37-8e0b-6d4a2c1f9e87", "region": "EU",
			},
		},
		{
			// Paula's email is unverified, so it is no email: the site
			// shows her subject, and lwicontexts carries no address.
			username: devidp.PlainUsername, password: devidp.PlainPassword, email: "c0ffee00-1111-4222-8333-444455556666",
			wantSub: "c0ffee00-1111-4222-8333-444455556666",
			want:    map[string]any{"msdyn_isvip": false, "msdyn_cartvalue": float64(0), "region": "EU"},
			absent:  []string{"contact_id", "customer_email"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.username, func(t *testing.T) {
			c := testenv.NewBrowserClient(t)
			resp := testenv.Login(t, c, d.URL+prefix+"/login?rd=/", tt.username, tt.password)
			page, _ := io.ReadAll(resp.Body)
			if resp.Request.URL.String() != d.URL+"/" || !strings.Contains(string(page), `id="site-user">`+tt.email+"<") {
				t.Fatalf("sign-in ended at %s, want the demo home page showing the user:\n%.400s", resp.Request.URL, page)
			}

			resp, body := get(t, c, d.URL+prefix+"/token")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("token status %d: %s", resp.StatusCode, body)
			}
			claims := verifiedToken(t, d, strings.TrimSpace(body))
			if claims["sub"] != tt.wantSub {
				t.Errorf("sub = %v, want %s", claims["sub"], tt.wantSub)
			}
			raw, ok := claims["lwicontexts"].(string)
			if !ok {
				t.Fatalf("lwicontexts is %T, want a string of serialized JSON", claims["lwicontexts"])
			}
			var ctx map[string]any
			if err := json.Unmarshal([]byte(raw), &ctx); err != nil {
				t.Fatalf("lwicontexts %q: %v", raw, err)
			}
			for k, v := range tt.want {
				if ctx[k] != v {
					t.Errorf("lwicontexts[%s] = %#v, want %#v", k, ctx[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, has := ctx[k]; has {
					t.Errorf("lwicontexts has %s = %v, want it left out", k, ctx[k])
				}
			}
		})
	}
}

func TestAnonymousVisitorsBrowseButGetNoToken(t *testing.T) {
	d := startDemo(t)
	c := testenv.NewBrowserClient(t)
	tests := []struct {
		path       string
		wantStatus int
		wantBody   []string
		wantCSP    string // a part of the Content-Security-Policy that must arrive
	}{
		{path: "/", wantStatus: 200, wantBody: []string{"Anonymous visitor", prefix + "/bootstrap.js", `id="Microsoft_Omnichannel_LCWidget"`, widgetLoaderPath}},
		{path: "/compressed.html", wantStatus: 200, wantBody: []string{"A gzip-compressed page", prefix + "/bootstrap.js", widgetLoaderPath}},
		{path: "/strict-csp.html", wantStatus: 200, wantBody: []string{"strict Content-Security-Policy", widgetLoaderPath}, wantCSP: "'nonce-"},
		{path: "/public/", wantStatus: 200, wantBody: []string{"A public page"}},
		{path: "/static/site.css", wantStatus: 200, wantBody: []string{"header.site"}},
		{path: prefix + "/token", wantStatus: 401},
		{path: prefix + "/public-key.pem", wantStatus: 200, wantBody: []string{"-----BEGIN PUBLIC KEY-----"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, c, d.URL+tt.path)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q: %.400q", want, body)
				}
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, tt.wantCSP) {
				t.Errorf("Content-Security-Policy %q lacks %q", csp, tt.wantCSP)
			}
		})
	}
}
