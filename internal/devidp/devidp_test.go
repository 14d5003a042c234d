package devidp

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRequireLoopback(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr string // "" means accepted
	}{
		{addr: "127.0.0.1:4180"},
		{addr: "127.0.0.1:0"},
		{addr: "127.1.2.3:80"},
		{addr: "[::1]:4180"},
		{addr: "localhost:4180"},
		{addr: ":4180", wantErr: "every interface"},
		{addr: "0.0.0.0:4180", wantErr: "not loopback"},
		{addr: "[::]:4180", wantErr: "not loopback"},
		{addr: "192.168.1.10:4180", wantErr: "not loopback"},
		{addr: "10.0.0.1:4180", wantErr: "not loopback"},
		{addr: "example.com:4180", wantErr: "not loopback"},
		{addr: "localhost.example.com:4180", wantErr: "not loopback"},
		{addr: "[::ffff:8.8.8.8]:4180", wantErr: "not loopback"},
		{addr: "127.0.0.1", wantErr: "missing port"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := RequireLoopback(tt.addr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("RequireLoopback(%q) = %v, want accepted", tt.addr, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("RequireLoopback(%q) = %v, want an error containing %q", tt.addr, err, tt.wantErr)
			}
		})
	}
}

func TestStartRefuses(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "every interface", opts: Options{Addr: ":0"}, wantErr: "every interface"},
		{name: "non-loopback address", opts: Options{Addr: "0.0.0.0:0"}, wantErr: "not loopback"},
		{name: "access tokens longer than the storage keeps them", opts: Options{AccessTokenLifetime: time.Hour}, wantErr: "exceeds"},
		{name: "user without username", opts: Options{Users: []User{{ID: "x"}}}, wantErr: "empty username"},
		{name: "two Microsoft shapes", opts: Options{Tenants: map[string]string{VIPUsername: "t"}, B2C: &B2C{Tenant: "c", TenantID: "t", Policy: "p"}}, wantErr: "set one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Logger = slog.New(slog.DiscardHandler)
			p, err := Start(tt.opts)
			if err == nil {
				p.Stop()
				t.Fatalf("Start succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestStartLogsDevelopmentOnlyWarning(t *testing.T) {
	var logs bytes.Buffer
	p, err := Start(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "DEVELOPMENT-ONLY") {
		t.Errorf("start-up log = %q, want a WARN line saying DEVELOPMENT-ONLY", logs.String())
	}
}

func TestLoginPage(t *testing.T) {
	users := append(DefaultUsers(), User{
		Username: "mallory", Password: "p",
		FirstName: `<script>alert(1)</script>`,
		Claims:    map[string]any{"note": `"><img src=x onerror=alert(1)>`},
	})
	p, err := Start(Options{Users: users, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()

	get := func(t *testing.T) (int, string) {
		t.Helper()
		resp, err := http.Get(p.Issuer + LoginPath + "?authRequestID=req-1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	status, page := get(t)
	if status != http.StatusOK {
		t.Fatalf("status = %d", status)
	}
	tests := []struct {
		name     string
		contains string
		absent   bool
	}{
		{name: "development-only banner", contains: "DEVELOPMENT-ONLY identity provider"},
		{name: "VIP username and password", contains: VIPPassword},
		{name: "customer password", contains: CustomerPassword},
		{name: "VIP contact id claim", contains: "87b4d06c-2f5e-4c1a-b7d3-9e0f6a1c2b45"},
		{name: "VIP groups as JSON", contains: `[&#34;vip&#34;,&#34;customers&#34;]`},
		{name: "auth request id in the forms", contains: `name="id" value="req-1"`},
		{name: "manual form username field", contains: `id="username"`},
		{name: "manual form password field", contains: `id="password"`},
		{name: "user names are escaped", contains: "<script>alert(1)</script>", absent: true},
		{name: "claim values are escaped", contains: "<img src=x", absent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Contains(page, tt.contains); got == tt.absent {
				t.Errorf("page contains %q = %v, want %v", tt.contains, got, !tt.absent)
			}
		})
	}
}

func TestLoginWithUnknownRequestShowsError(t *testing.T) {
	p, err := Start(Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	resp, err := http.PostForm(p.Issuer+LoginPath, map[string][]string{
		"id": {"no-such-request"}, "username": {VIPUsername}, "password": {VIPPassword},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="login-error"`) {
		t.Errorf("status %d, body %.300s; want the login page again with an error", resp.StatusCode, body)
	}
}
