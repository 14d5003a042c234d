package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// baseConfig returns a valid configuration for upstream with everything the
// proxy needs on disk in a temp dir; sections in extra replace the base's.
func baseConfig(t *testing.T, upstream string, extra string) string {
	t.Helper()
	dir := t.TempDir()
	keyFile := testenv.SigningKeyFile(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
public_url: http://127.0.0.1:4180
upstream:
  url: %s
oidc:
  issuer: http://127.0.0.1:1/unreachable
  client_id: lcw-auth-proxy
  client_secret: oidc-client-secret-value
session:
  secret: %s
token:
  issuer: shop.example.com
  signing_keys:
    - file: %s
shutdown_timeout: 5s
access:
  mode: optional
`, upstream, base64.StdEncoding.EncodeToString(secret), keyFile)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(testenv.ReplaceSections(cfg, extra)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lockedBuffer is the proxy's log, readable while the proxy writes.
type lockedBuffer struct{ testenv.LogBuffer }

// lines returns the JSON log lines whose msg is msg.
func (b *lockedBuffer) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// runningProxy is the whole program started in-process through run.
type runningProxy struct {
	URL    string
	Logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// startProxy runs `lcw-auth-proxy serve --config path` in-process and waits
// until it listens.
func startProxy(t *testing.T, path string, env map[string]string) *runningProxy {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &runningProxy{Logs: &lockedBuffer{}, cancel: cancel, done: make(chan error, 1)}
	getenv := func(k string) string { return env[k] }
	go func() { p.done <- run(ctx, []string{"serve", "--config", path}, getenv, &bytes.Buffer{}, p.Logs) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range p.Logs.lines("listening") {
			if l["listener"] == "proxy" {
				p.URL = "http://" + l["addr"].(string)
			}
		}
		if p.URL != "" {
			break
		}
		select {
		case err := <-p.done:
			t.Fatalf("proxy exited before listening: %v\nlogs:\n%s", err, p.Logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if p.URL == "" {
		t.Fatalf("proxy did not start listening; logs:\n%s", p.Logs)
	}
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Stop cancels the proxy's context (as SIGTERM does) and waits for run to
// return.
func (p *runningProxy) Stop(t *testing.T) error {
	t.Helper()
	p.cancel()
	select {
	case err, ok := <-p.done:
		if ok {
			close(p.done)
		}
		return err
	case <-time.After(15 * time.Second):
		t.Fatalf("proxy did not stop")
	}
	return nil
}

// signInSite is what a test that signs in through the whole program needs
// before writing its config: a free loopback address for the proxy
// (public is its URL), an OP that knows the callback there (opts plus
// that redirect URI), an upstream and a session secret (base64).
func signInSite(t *testing.T, opts testenv.OPOptions) (addr, public string, op *testenv.OP, upstream, secret string) {
	t.Helper()
	addr = testenv.FreeAddr(t) // the proxy listens here; the OP must know the redirect URI first
	public = "http://" + addr
	opts.RedirectURIs = append(opts.RedirectURIs, public+"/_lcw/callback")
	op = testenv.StartOP(t, opts)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "site") }))
	t.Cleanup(up.Close)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return addr, public, op, up.URL, base64.StdEncoding.EncodeToString(key)
}
