package token

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

func TestContextEnrichment(t *testing.T) {
	contextKeys := map[string]config.ContextRule{
		"msdyn_cartvalue": {Type: "number"},
		"loyalty_tier":    {},
		"vip_flag":        {Type: "boolean"},
		"region":          {},                                 // also an lwicontexts rule: that one wins
		"country":         {Claim: "account.address.country"}, // a path into the answer
	}
	cases := []struct {
		name       string
		status     int
		answer     string
		delay      time.Duration
		wantValues map[string]any // the enrichment's keys only
		problems   []claims.Problem
		result     string // context_enrichment_total label
	}{
		{
			name:   "ok: declared keys typed, undeclared dropped, lwicontexts wins",
			status: 200,
			answer: `{"msdyn_cartvalue":"10000","loyalty_tier":"gold","vip_flag":"true","region":"US","account":{"address":{"country":"DE"}},"msdyn_isvip":false,"undeclared":"x","sub":"other"}`,
			wantValues: map[string]any{
				"msdyn_cartvalue": json.Number("10000"), "loyalty_tier": "gold", "vip_flag": true, "country": "DE",
			},
			result: "ok",
		},
		{
			name:   "wrong types and shapes leave those keys out",
			status: 200,
			answer: `{"msdyn_cartvalue":"lots","loyalty_tier":["gold"],"vip_flag":1,"country":null}`,
			problems: []claims.Problem{
				{Key: "country", Reason: claims.ReasonMissing},
				{Key: "loyalty_tier", Reason: claims.ReasonList},
				{Key: "msdyn_cartvalue", Reason: claims.ReasonNotNumber},
				{Key: "vip_flag", Reason: claims.ReasonNotBoolean},
			},
			result: "ok",
		},
		{name: "500", status: 500, answer: `{"msdyn_cartvalue":1}`, result: "error"},
		{name: "not JSON", status: 200, answer: `<html>`, result: "error"},
		{name: "JSON array", status: 200, answer: `[1]`, result: "error"},
		{name: "timeout", status: 200, answer: `{"msdyn_cartvalue":1}`, delay: 30 * time.Second, result: "error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				Sub    string         `json:"sub"`
				Claims map[string]any `json:"claims"`
			}
			var method, ctype string
			var mu sync.Mutex
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				method, ctype = r.Method, r.Header.Get("Content-Type")
				json.Unmarshal(body, &got)
				mu.Unlock()
				if tc.delay > 0 {
					select {
					case <-time.After(tc.delay):
					case <-r.Context().Done():
					}
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.answer)
			}))
			defer upstream.Close()

			f := newFixture(t, func(c *config.Token) {
				c.ContextURL = upstream.URL
				// Generous unless the case is about the timeout: a loaded CI
				// machine under -race can take well over 100 ms for a round trip.
				c.ContextTimeout = config.Duration(10 * time.Second)
				if tc.delay > 0 {
					c.ContextTimeout = config.Duration(100 * time.Millisecond)
				}
				c.ContextKeys = contextKeys
			}, nil)
			f.minter = NewMinter(MinterOptions{Token: f.cfg, Keys: f.keys, Enricher: EnricherFromConfig(f.cfg, nil), Metrics: f.metrics})
			f.minter.now = func() time.Time { return testNow }

			p, err := f.minter.Payload(context.Background(), userClaims())
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			okRequest := method == http.MethodPost && ctype == "application/json" && got.Sub == "87b4d06c-abc2-e811-a9b0-000d3a10e09e" && got.Claims["email"] == "vip@example.com"
			mu.Unlock()
			if !okRequest {
				t.Fatalf("upstream got %s %s %+v", method, ctype, got)
			}
			base := map[string]any{"customer_email": "vip@example.com", "customer_name": "Ada Lovelace", "msdyn_isvip": true, "region": "EU"}
			for k, v := range tc.wantValues {
				base[k] = v
			}
			if !reflect.DeepEqual(p.Contexts, base) {
				t.Fatalf("contexts = %#v\nwant       %#v", p.Contexts, base)
			}
			if !reflect.DeepEqual(p.Problems, tc.problems) {
				t.Fatalf("problems = %v, want %v", p.Problems, tc.problems)
			}
			if n := testutil.ToFloat64(f.metrics.ContextEnrichment.WithLabelValues(tc.result)); n != 1 {
				t.Fatalf("context_enrichment_total{result=%s} = %v", tc.result, n)
			}
			// The token is minted either way.
			if tok, _, err := f.minter.Mint(context.Background(), userClaims()); err != nil || tok == "" {
				t.Fatalf("Mint: %v", err)
			}
		})
	}
}

func TestEnricherDoesNotFollowRedirects(t *testing.T) {
	var leaked bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { leaked = true }))
	defer elsewhere.Close()
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()
	e := &HTTPEnricher{URL: redirect.URL, Timeout: time.Second}
	if _, err := e.Enrich(context.Background(), "s", map[string]any{"email": "a@b"}); err == nil {
		t.Fatal("a redirect was accepted as an answer")
	}
	if leaked {
		t.Fatal("the claims were sent to the redirect target")
	}
}

func TestEnricherFromConfig(t *testing.T) {
	if EnricherFromConfig(config.Token{}, nil) != nil {
		t.Fatal("an enricher without context_url")
	}
}
