package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
)

// loadWith is what the proxy does with the printed header: it reads the
// session through a Store built from key.
func loadWith(t *testing.T, key []byte, name, header string) (*session.Session, error) {
	t.Helper()
	codec, err := session.NewCodec([][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	store := session.NewCookieStore(codec, session.CookieOptions{Name: name, Path: "/", Lifetime: time.Hour})
	req := httptest.NewRequest("GET", "http://127.0.0.1/small", nil)
	req.Header.Set("Cookie", header)
	return store.Load(req)
}

func TestPrintedCookieIsASessionTheProxyAccepts(t *testing.T) {
	key := bytes.Repeat([]byte{7}, session.KeySize)
	other := bytes.Repeat([]byte{8}, session.KeySize)
	secret := base64.StdEncoding.EncodeToString(key)
	tests := []struct {
		name     string
		args     []string
		loadKey  []byte
		loadName string
		wantErr  error // nil: the session loads
	}{
		{name: "same secret and name load the session", args: []string{"-secret", secret, "-name", "_lcw", "-sub", "user1"}, loadKey: key, loadName: "_lcw"},
		{name: "custom cookie name", args: []string{"-secret", secret, "-name", "shop_session", "-sub", "user1"}, loadKey: key, loadName: "shop_session"},
		{name: "another secret does not open it", args: []string{"-secret", secret, "-sub", "user1"}, loadKey: other, loadName: "_lcw", wantErr: session.ErrInvalid},
		{name: "under another cookie name it is no session", args: []string{"-secret", secret, "-name", "_lcw"}, loadKey: key, loadName: "other", wantErr: session.ErrNoSession},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(tc.args, &out); err != nil {
				t.Fatalf("run: %v", err)
			}
			header := strings.TrimSpace(out.String())
			sess, err := loadWith(t, tc.loadKey, tc.loadName, header)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Load error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if sess.Subject != "user1" {
				t.Errorf("subject = %q, want user1", sess.Subject)
			}
			if n := len(sess.Claims); n < 8 || n > 12 {
				t.Errorf("session has %d claims, want about 10", n)
			}
			if !sess.Expiry.After(time.Now().Add(time.Hour)) {
				t.Errorf("session expires at %s, want hours ahead so a benchmark never outlives it", sess.Expiry)
			}
		})
	}
}

func TestBadSecretIsRefused(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "missing", args: nil},
		{name: "not base64", args: []string{"-secret", "%%%"}},
		{name: "too short", args: []string{"-secret", base64.StdEncoding.EncodeToString([]byte("short"))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(tc.args, &out); err == nil {
				t.Fatalf("run accepted %v and printed %q", tc.args, out.String())
			}
			if out.Len() != 0 {
				t.Errorf("printed %q despite the error", out.String())
			}
		})
	}
}
