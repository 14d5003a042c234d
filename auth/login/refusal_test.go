package login

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestRefusedByProvider(t *testing.T) {
	answer := func(status int, code string) error {
		return &oauth2.RetrieveError{Response: &http.Response{StatusCode: status}, ErrorCode: code}
	}
	tests := []struct {
		name    string
		err     error
		refused bool
	}{
		{"invalid_grant", answer(400, "invalid_grant"), true},
		{"invalid_client (Hydra's answer to the other auth method)", answer(401, "invalid_client"), true},
		{"unauthorized_client", answer(400, "unauthorized_client"), true},
		{"invalid_request", answer(400, "invalid_request"), true},
		{"unsupported_grant_type", answer(400, "unsupported_grant_type"), true},
		{"invalid_scope", answer(400, "invalid_scope"), true},
		{"a 403 without a code", answer(403, ""), true},
		{"503 from a load balancer", answer(503, ""), false},
		{"500 with server_error", answer(500, "server_error"), false},
		{"temporarily_unavailable", answer(400, "temporarily_unavailable"), false},
		{"429", answer(429, ""), false},
		{"408", answer(408, ""), false},
		{"network error", errors.New("dial tcp: connection refused"), false},
		{"timeout", context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := refusedByProvider(tt.err); got != tt.refused {
				t.Errorf("refusedByProvider = %v, want %v", got, tt.refused)
			}
		})
	}
}

func TestTokenAuthMethod(t *testing.T) {
	tests := []struct {
		name       string
		configured string
		supported  []string
		want       string
		warns      bool
	}{
		{"nothing listed: basic (the spec's default)", "", nil, "client_secret_basic", false},
		{"Hydra's order: basic first", "", []string{"client_secret_post", "client_secret_basic", "private_key_jwt", "none"}, "client_secret_basic", false},
		{"post only", "", []string{"client_secret_post", "none"}, "client_secret_post", false},
		{"neither listed", "", []string{"private_key_jwt"}, "client_secret_basic", true},
		{"configured and listed", "client_secret_post", []string{"client_secret_basic", "client_secret_post"}, "client_secret_post", false},
		{"configured, not listed: used, with a warning", "client_secret_post", []string{"client_secret_basic"}, "client_secret_post", true},
		{"configured, nothing listed", "client_secret_post", nil, "client_secret_post", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warning := tokenAuthMethod(tt.configured, tt.supported)
			if got != tt.want || (warning != "") != tt.warns {
				t.Errorf("tokenAuthMethod = %q, %q; want %q, warning %v", got, warning, tt.want, tt.warns)
			}
			if authStyles[got] == oauth2.AuthStyleAutoDetect {
				t.Errorf("%s maps to auto-detection", got)
			}
		})
	}
}

// The code refusedByProvider reports (logged as error_code) is the OAuth
// error code, or the status when the answer has none; a wrapped error is
// classified as the error it wraps.
func TestRefusedByProviderCode(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		code    string
		refused bool
	}{
		{"the OAuth code", &oauth2.RetrieveError{Response: &http.Response{StatusCode: 400}, ErrorCode: "invalid_grant"}, "invalid_grant", true},
		{"the status without a code", &oauth2.RetrieveError{Response: &http.Response{StatusCode: 403}}, "403", true},
		{"a code without a response", &oauth2.RetrieveError{ErrorCode: "invalid_grant"}, "invalid_grant", true},
		{"neither code nor status", &oauth2.RetrieveError{}, "0", false},
		{"wrapped", fmt.Errorf("refresh: %w", &oauth2.RetrieveError{Response: &http.Response{StatusCode: 400}, ErrorCode: "invalid_grant"}), "invalid_grant", true},
		{"wrapped 502", fmt.Errorf("refresh: %w", &oauth2.RetrieveError{Response: &http.Response{StatusCode: 502}}), "502", false},
		{"no answer", errors.New("connection refused"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, refused := refusedByProvider(tt.err)
			if code != tt.code || refused != tt.refused {
				t.Errorf("refusedByProvider = %q, %v; want %q, %v", code, refused, tt.code, tt.refused)
			}
		})
	}
}

// The errors x/oauth2 returns for the provider's real answers are
// classified as their cause says: an unknown refresh token is refused
// (invalid_grant), so is a client the provider does not know
// (invalid_client); a provider that cannot be reached is not.
func TestRefusedByProviderRealAnswers(t *testing.T) {
	s := startSite(t, siteOptions{})
	p, _ := s.rp.disc.get()
	refresh := func(cfg oauth2.Config) error {
		ctx := s.rp.clientContext(context.Background())
		_, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: "not-a-refresh-token", Expiry: time.Unix(1, 0)}).Token()
		if err == nil {
			t.Fatal("the provider refreshed an unknown refresh token")
		}
		return err
	}
	wrongSecret := p.oauth2
	wrongSecret.ClientSecret = "rotated"
	gone := p.oauth2
	gone.Endpoint.TokenURL = "http://" + closedAddr(t) + "/oauth/token"
	for _, tt := range []struct {
		name    string
		err     error
		code    string
		refused bool
	}{
		{"unknown refresh token", refresh(p.oauth2), "invalid_grant", true},
		{"wrong client secret", refresh(wrongSecret), "invalid_client", true},
		{"nobody listening", refresh(gone), "", false},
	} {
		code, refused := refusedByProvider(tt.err)
		if code != tt.code || refused != tt.refused {
			t.Errorf("%s: refusedByProvider(%v) = %q, %v; want %q, %v", tt.name, tt.err, code, refused, tt.code, tt.refused)
		}
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
