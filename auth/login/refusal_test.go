package login

import (
	"context"
	"errors"
	"net/http"
	"testing"

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
