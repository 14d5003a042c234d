package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

func TestCommands(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, os.Getenv, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "lcw-auth-proxy ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"--help"}, os.Getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "check-config", "init", "version"} {
		if !strings.Contains(out.String(), cmd) {
			t.Errorf("help does not list %s:\n%s", cmd, out.String())
		}
	}
	err := run(context.Background(), []string{"frobnicate"}, os.Getenv, &out, io.Discard)
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %v", err)
	}
	err = run(context.Background(), []string{"serve"}, func(string) string { return "" }, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--config FILE is required") {
		t.Fatalf("serve without config: %v", err)
	}
}

func TestCheckConfigRedactsSecrets(t *testing.T) {
	path := baseConfig(t, "http://127.0.0.1:8080", "")
	var out bytes.Buffer
	env := map[string]string{"LCW_UPSTREAM_URL": "http://127.0.0.1:9999", "LCW_OIDC_SCOPES": "openid,email"}
	if err := run(context.Background(), []string{"check-config", "--config", path}, func(k string) string { return env[k] }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	cfg, _ := os.ReadFile(path)
	secretLine := strings.TrimSpace(strings.Split(strings.Split(string(cfg), "secret: ")[2], "\n")[0])
	for _, secret := range []string{"oidc-client-secret-value", secretLine} {
		if strings.Contains(s, secret) {
			t.Errorf("check-config printed a secret %q:\n%s", secret, s)
		}
	}
	for _, want := range []string{"client_secret: REDACTED", "secret: REDACTED", "url: http://127.0.0.1:9999", "- email"} {
		if !strings.Contains(s, want) {
			t.Errorf("check-config output lacks %q:\n%s", want, s)
		}
	}
}

// URL-valued keys are printed too; credentials in their user info are
// secrets like any other, whether given in the file or the environment.
func TestCheckConfigRedactsURLCredentials(t *testing.T) {
	path := baseConfig(t, "http://proxy:upstream-pass-value@127.0.0.1:8080", fmt.Sprintf(`token:
  issuer: shop.example.com
  signing_keys:
    - file: %s
  context_url: https://crm:context-pass-value@crm.internal/ctx?a=1
  context_keys:
    msdyn_cartvalue: { type: number }
`, testenv.SigningKeyFile(t)))
	env := map[string]string{"LCW_OIDC_ISSUER": "http://issuer-token-value@127.0.0.1:1/unreachable"}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check-config", "--config", path}, func(k string) string { return env[k] }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, secret := range []string{"upstream-pass-value", "context-pass-value", "issuer-token-value"} {
		if strings.Contains(s, secret) {
			t.Errorf("check-config printed the credential %q:\n%s", secret, s)
		}
	}
	for _, want := range []string{
		"url: http://proxy:REDACTED@127.0.0.1:8080\n",
		"context_url: https://crm:REDACTED@crm.internal/ctx?a=1\n",
		"issuer: http://REDACTED@127.0.0.1:1/unreachable\n", // a user name alone may be a token
	} {
		if !strings.Contains(s, want) {
			t.Errorf("check-config output lacks %q:\n%s", want, s)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	good := baseConfig(t, "http://127.0.0.1:8080", "")
	goodText, _ := os.ReadFile(good)
	secretDir := t.TempDir()
	tests := []struct {
		name  string
		yaml  string // replaces the whole file when it has no "{base}"
		env   map[string]string
		wants []string
	}{
		{name: "unknown key with suggestion", yaml: "{base}upstrem:\n  url: x\n", wants: []string{`unknown key "upstrem"`, `did you mean "upstream"?`, "line "}},
		{name: "unknown nested key", yaml: strings.Replace("{base}", "", "", 1) + "log:\n  formt: text\n", wants: []string{`unknown key "log.formt"`, `did you mean "log.format"?`}},
		{name: "yaml syntax error names the line", yaml: "listen: [\n", wants: []string{"YAML syntax", "line"}},
		{name: "bad duration names the key", yaml: "{base}session:\n  lifetime: forever\n", wants: []string{`"session.lifetime"`, "not a duration", "like 30s"}},
		{name: "wrong type names the key", yaml: "{base}server:\n  max_header_bytes: lots\n", wants: []string{`"server.max_header_bytes"`}},
		{name: "public_url required", yaml: "upstream:\n  url: http://x\n", wants: []string{"public_url: is required", "oidc.issuer: is required", "session.secret: is required", "openssl rand -base64 32"}},
		{name: "public_url with path", yaml: "{base}", env: map[string]string{"LCW_PUBLIC_URL": "https://shop.example.com/app"}, wants: []string{"public_url: \"https://shop.example.com/app\" must be an origin only"}},
		{name: "env override is validated", yaml: "{base}", env: map[string]string{"LCW_UPSTREAM_URL": "ftp://files"}, wants: []string{`upstream.url: "ftp://files" must be an absolute http or https URL`}},
		{name: "env bool that is not a bool", yaml: "{base}", env: map[string]string{"LCW_UPSTREAM_PRESERVE_HOST": "maybe"}, wants: []string{"LCW_UPSTREAM_PRESERVE_HOST", `"upstream.preserve_host"`, "true or false"}},
		{name: "env duration", yaml: "{base}", env: map[string]string{"LCW_SHUTDOWN_TIMEOUT": "soon"}, wants: []string{"LCW_SHUTDOWN_TIMEOUT", "not a duration"}},
		{name: "secret file missing", yaml: "{base}oidc:\n  issuer: http://127.0.0.1:1\n  client_id: x\n  client_secret_file: " + filepath.Join(secretDir, "nope") + "\n", wants: []string{"oidc.client_secret_file: cannot read"}},
		{name: "short session secret", yaml: "{base}", env: map[string]string{"LCW_SESSION_SECRET": "c2hvcnQ="}, wants: []string{"session.secret", "decodes to 5 bytes, not 32"}},
		{name: "bad access mode", yaml: "{base}access:\n  mode: sometimes\n", wants: []string{`access.mode: "sometimes" is not a mode`}},
		{name: "bad client function", yaml: "{base}inject:\n  client_function: \"alert(1)//\"\n", wants: []string{"inject.client_function", "JavaScript global name"}},
		{name: "partial widget", yaml: "{base}inject:\n  widget:\n    app_id: abc\n", wants: []string{"inject.widget.org_id: is required", "inject.widget.src: is required"}},
		{name: "bad trusted proxy", yaml: "{base}trusted_proxies: [10.0.0.0/33]\n", wants: []string{"trusted_proxies[0]", "CIDR"}},
		{name: "same listen for metrics", yaml: "{base}metrics_listen: 127.0.0.1:0\n", wants: []string{"metrics_listen: must differ from listen"}},
		{name: "bad prefix", yaml: "{base}prefix: lcw\n", wants: []string{`prefix: "lcw" must be a path`}},
		{name: "top level list", yaml: "- a\n- b\n", wants: []string{"must be a mapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.yaml
			if rest, ok := strings.CutPrefix(tt.yaml, "{base}"); ok {
				text = testenv.ReplaceSections(string(goodText), rest)
			}
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			err := run(context.Background(), []string{"check-config", "--config", path}, func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
			if err == nil {
				t.Fatalf("config accepted; want error containing %q", tt.wants)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestHealthAndPrefixNeverForwarded(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer up.Close()
	p := startProxy(t, baseConfig(t, up.URL, ""), nil)
	c := &http.Client{}
	if r := testenv.Do(t, c, http.MethodGet, p.URL+"/_lcw/healthz", nil); r.StatusCode != 200 {
		t.Fatalf("healthz %d", r.StatusCode)
	}
	r := testenv.Do(t, c, http.MethodGet, p.URL+"/_lcw/readyz", nil)
	body, _ := io.ReadAll(r.Body)
	if !strings.Contains(string(body), `"checks"`) {
		t.Fatalf("readyz body %s", body)
	}
	for _, path := range []string{"/_lcw/nothing-here", "/_lcw", "/x/../_lcw/secret", "/%5Flcw/secret"} {
		if r := testenv.Do(t, c, http.MethodGet, p.URL+path, nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404 from the proxy", path, r.StatusCode)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d prefix requests reached the upstream", n)
	}
}

func TestHeaderHygiene(t *testing.T) {
	got := make(chan *http.Request, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Clone(context.Background()) }))
	defer up.Close()
	upHost := strings.TrimPrefix(up.URL, "http://")

	tests := []struct {
		name   string
		extra  string
		header map[string][]string
		check  func(t *testing.T, r *http.Request)
	}{
		{
			name: "identity headers stripped in any case and with underscores",
			header: map[string][]string{
				"X-Forwarded-User": {"admin"}, "x-forwarded-email": {"a@b"}, "X_Forwarded_User": {"admin"},
				"X-FORWARDED-GROUPS": {"admins"}, "x_forwarded_preferred_username": {"root"},
				"X-Auth-Request-Email": {"a@b"}, "X-Custom-Identity": {"x"}, "Remote-User": {"admin"},
			},
			extra: "headers:\n  strip: [X-Custom-Identity]\n",
			check: func(t *testing.T, r *http.Request) {
				for k := range r.Header {
					n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
					if strings.Contains(n, "forwarded-user") || strings.Contains(n, "email") || strings.Contains(n, "groups") ||
						strings.Contains(n, "preferred") || n == "x-custom-identity" || n == "remote-user" {
						t.Errorf("identity header %s reached the upstream", k)
					}
				}
			},
		},
		{
			name:   "proxy cookies stripped, site cookies kept",
			header: map[string][]string{"Cookie": {"_lcw=abc; site=1; _lcw_1=def", "_lcw_flow_x=1; other=2"}},
			check: func(t *testing.T, r *http.Request) {
				cookies := strings.Join(r.Header.Values("Cookie"), "; ")
				if strings.Contains(cookies, "_lcw") || !strings.Contains(cookies, "site=1") || !strings.Contains(cookies, "other=2") {
					t.Errorf("upstream saw cookies %q", cookies)
				}
			},
		},
		{
			name:   "spoofed X-Forwarded-For replaced without trusted proxies",
			header: map[string][]string{"X-Forwarded-For": {"6.6.6.6"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}},
			check: func(t *testing.T, r *http.Request) {
				if v := r.Header.Get("X-Forwarded-For"); v != "127.0.0.1" {
					t.Errorf("X-Forwarded-For = %q, want only the peer", v)
				}
				if v := r.Header.Get("X-Forwarded-Proto"); v != "http" {
					t.Errorf("X-Forwarded-Proto = %q", v)
				}
				if v := r.Header.Get("X-Forwarded-Host"); strings.Contains(v, "evil") {
					t.Errorf("X-Forwarded-Host = %q", v)
				}
				if r.Host != upHost {
					t.Errorf("Host = %q, want the upstream's %q", r.Host, upHost)
				}
			},
		},
		{
			name: "routing and address headers from an untrusted client replaced or stripped",
			header: map[string][]string{
				"Host": {"evil.example"}, "X-Original-URL": {"/admin"}, "X-Rewrite-URL": {"/admin"}, "X-Forwarded-Uri": {"/admin"},
				"X-Forwarded-Prefix": {"/evil"}, "X-Forwarded-Port": {"1"}, "X-Forwarded-Server": {"evil"}, "X-Real-IP": {"6.6.6.6"},
				"True-Client-IP": {"6.6.6.6"}, "X-Client-IP": {"6.6.6.6"}, "X-Original-Forwarded-For": {"6.6.6.6"},
				"Forwarded": {"for=6.6.6.6;host=evil.example;proto=https"}, "X_Forwarded_Host": {"evil.example"},
			},
			check: func(t *testing.T, r *http.Request) {
				for _, k := range []string{"X-Original-Url", "X-Rewrite-Url", "X-Forwarded-Uri", "X-Forwarded-Prefix", "X-Forwarded-Server",
					"True-Client-Ip", "X-Client-Ip", "X-Original-Forwarded-For", "Forwarded", "X_Forwarded_Host"} {
					if v, ok := r.Header[k]; ok {
						t.Errorf("%s reached the upstream: %q", k, v)
					}
				}
				// baseConfig's public_url is http://127.0.0.1:4180.
				if v := r.Header.Get("X-Forwarded-Host"); v != "127.0.0.1:4180" {
					t.Errorf("X-Forwarded-Host = %q, want public_url's host", v)
				}
				if v := r.Header.Get("X-Forwarded-Port"); v != "4180" {
					t.Errorf("X-Forwarded-Port = %q, want public_url's port", v)
				}
				if v := r.Header.Get("X-Forwarded-Proto"); v != "http" {
					t.Errorf("X-Forwarded-Proto = %q, want public_url's scheme", v)
				}
				if v := r.Header.Get("X-Real-Ip"); v != "127.0.0.1" {
					t.Errorf("X-Real-IP = %q, want the peer", v)
				}
			},
		},
		{
			name:   "trusted proxy chain kept",
			extra:  "trusted_proxies: [127.0.0.0/8]\n",
			header: map[string][]string{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}},
			check: func(t *testing.T, r *http.Request) {
				if v := r.Header.Get("X-Forwarded-For"); v != "203.0.113.7, 127.0.0.1" {
					t.Errorf("X-Forwarded-For = %q", v)
				}
				if v := r.Header.Get("X-Forwarded-Proto"); v != "https" {
					t.Errorf("X-Forwarded-Proto = %q", v)
				}
			},
		},
		{
			name:  "preserve_host keeps the incoming Host",
			extra: "upstream:\n  url: " + up.URL + "\n  preserve_host: true\n",
			check: func(t *testing.T, r *http.Request) {
				if !strings.HasPrefix(r.Host, "127.0.0.1:") || r.Host == upHost {
					t.Errorf("Host = %q, want the proxy's", r.Host)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, baseConfig(t, up.URL, tt.extra), nil)
			req, _ := http.NewRequest(http.MethodGet, p.URL+"/page?q=1", nil)
			for k, vs := range tt.header {
				if k == "Host" {
					req.Host = vs[0]
					continue
				}
				req.Header[k] = vs // raw keys: keep the attacker's spelling
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			select {
			case r := <-got:
				tt.check(t, r)
			case <-time.After(5 * time.Second):
				t.Fatal("upstream saw no request")
			}
		})
	}
}

// A compromised upstream must not fixate or wipe a visitor's session: its
// Set-Cookie lines for the proxy's cookie names never reach the browser,
// while the site's own cookies do.
func TestUpstreamCannotSetProxyCookies(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, c := range []string{
			"_lcw=attacker-session; Path=/; HttpOnly",
			"_lcw_1=attacker-chunk",
			"_lcw_flow_abc=attacker-flow; Path=/_lcw/callback",
			"_lcw=; Max-Age=0",
			"_lcw =spaced",
			"=_lcw=nameless", // sent back by browsers as "_lcw=nameless"
			"site=1; Path=/",
		} {
			w.Header().Add("Set-Cookie", c)
		}
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	p := startProxy(t, baseConfig(t, up.URL, ""), nil)
	resp, err := http.Get(p.URL + "/page")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "site=1; Path=/" {
		t.Errorf("client got Set-Cookie %q, want only the site's cookie", got)
	}
}

func TestServerSentEventsFlushImmediately(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	}))
	defer up.Close()
	defer close(release)
	p := startProxy(t, baseConfig(t, up.URL, ""), nil)
	resp := testenv.Do(t, http.DefaultClient, http.MethodGet, p.URL+"/events", nil)
	defer resp.Body.Close()
	buf := make([]byte, 64)
	done := make(chan string, 1)
	go func() {
		n, _ := io.ReadAtLeast(resp.Body, buf, len("data: first\n\n"))
		done <- string(buf[:n])
	}()
	select {
	case s := <-done:
		if s != "data: first\n\n" {
			t.Fatalf("first event = %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive while the upstream was still streaming")
	}
}

func TestWebsocketPassThrough(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			_ = c.Write(r.Context(), typ, append([]byte("echo:"), msg...))
		}
	}))
	defer up.Close()
	p := startProxy(t, baseConfig(t, up.URL, ""), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial through proxy: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil || string(msg) != "echo:hello" {
		t.Fatalf("read %q %v", msg, err)
	}
}

func TestUpstreamFailures(t *testing.T) {
	closedAddr := testenv.ClosedAddr(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	tests := []struct {
		name     string
		upstream string
		extra    string
		status   int
	}{
		{"unreachable upstream is 502", "http://" + closedAddr, "", http.StatusBadGateway},
		{"slow upstream is 504", slow.URL, "upstream:\n  url: " + slow.URL + "\n  timeout: 200ms\n", http.StatusGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, baseConfig(t, tt.upstream, tt.extra), nil)
			for _, accept := range []string{"text/html", "application/json"} {
				resp := testenv.Do(t, http.DefaultClient, http.MethodGet, p.URL+"/x", map[string]string{"Accept": accept})
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
				}
				for _, leak := range []string{"127.0.0.1", "connection refused", "dial", "timeout awaiting", "Go-http"} {
					if strings.Contains(string(body), leak) {
						t.Errorf("error page reveals %q: %s", leak, body)
					}
				}
			}
			if !strings.Contains(p.Logs.String(), `"msg":"upstream error"`) {
				t.Errorf("upstream error not logged")
			}
		})
	}
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		fmt.Fprint(w, "finished")
	}))
	defer up.Close()
	p := startProxy(t, baseConfig(t, up.URL, ""), nil)
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(p.URL + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{string(b), err}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(t) }()
	// New connections are refused once shutdown begins, while the in-flight
	// request is still being served.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := http.Get(p.URL + "/new"); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	r := <-res
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("run returned %v after graceful shutdown", err)
	}
}

func TestAccessLogLine(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") }))
	defer up.Close()
	p := startProxy(t, baseConfig(t, up.URL, ""), nil)
	resp := testenv.Do(t, http.DefaultClient, http.MethodGet, p.URL+"/page?code=SECRETCODE", map[string]string{"Cookie": "_lcw=SECRETCOOKIE", "Authorization": "Bearer SECRETBEARER"})
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// Access lines are buffered; the graceful shutdown (SIGTERM) writes
	// them out.
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	for _, l := range p.Logs.lines("request") {
		if l["path"] == "/page" {
			line = l
		}
	}
	if line == nil {
		t.Fatalf("no access log line; logs:\n%s", p.Logs)
	}
	for _, k := range []string{"method", "path", "status", "bytes", "duration", "upstream_duration", "route", "host", "client", "user_agent", "request_id"} {
		if _, ok := line[k]; !ok {
			t.Errorf("access log lacks %s: %v", k, line)
		}
	}
	for _, k := range []string{"duration", "upstream_duration"} {
		if d, _ := line[k].(string); d == "" || func() error { _, err := time.ParseDuration(d); return err }() != nil {
			t.Errorf("%s = %v, want a Go duration string", k, line[k])
		}
	}
	if id := resp.Header.Get("X-Request-Id"); id == "" || line["request_id"] != id {
		t.Errorf("request_id %v, the response's X-Request-Id %q", line["request_id"], id)
	}
	if line["client"] != "127.0.0.1" || line["route"] != "upstream" || line["user_agent"] != "Go-http-client/1.1" {
		t.Errorf("client/route/user_agent = %v/%v/%v", line["client"], line["route"], line["user_agent"])
	}
	if line["status"] != float64(200) || line["bytes"] != float64(5) {
		t.Errorf("status/bytes = %v/%v", line["status"], line["bytes"])
	}
	for _, secret := range []string{"SECRETCODE", "SECRETCOOKIE", "SECRETBEARER", "oidc-client-secret-value"} {
		if strings.Contains(p.Logs.String(), secret) {
			t.Errorf("logs contain %s", secret)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer up.Close()
	// metrics_listen must differ from listen, which is 127.0.0.1:0 too:
	// use another loopback address.
	p := startProxy(t, baseConfig(t, up.URL, "metrics_listen: 127.0.0.2:0\n"), nil)
	for _, u := range []string{"/shop", "/_lcw/healthz", "/_lcw/nope"} {
		resp := testenv.Do(t, http.DefaultClient, http.MethodGet, p.URL+u, nil)
		resp.Body.Close()
	}
	var metricsAddr string
	for _, l := range p.Logs.lines("listening") {
		if l["listener"] == "metrics" {
			metricsAddr = l["addr"].(string)
		}
	}
	if metricsAddr == "" {
		t.Fatalf("no metrics listener; logs:\n%s", p.Logs)
	}
	resp := testenv.Do(t, http.DefaultClient, http.MethodGet, "http://"+metricsAddr+"/metrics", nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`lcw_http_requests_total{code="2xx",route="upstream"} 1`,
		`lcw_http_requests_total{code="2xx",route="healthz"} 1`,
		`lcw_http_requests_total{code="4xx",route="own_other"} 1`,
		`lcw_http_request_duration_seconds_count{route="upstream"} 1`,
		"go_goroutines",
		// serve stamps the build; the IdP series exists from the start.
		`lcw_build_info{goversion="` + runtime.Version() + `",revision=`,
		`lcw_dependency_up{dep="idp"}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(string(b), "lcw_http"))
		}
	}
	// The metrics are not served on the proxy's own listener.
	if r := testenv.Do(t, http.DefaultClient, http.MethodGet, p.URL+"/metrics", nil); r.StatusCode == 200 && strings.Contains(func() string { b, _ := io.ReadAll(r.Body); return string(b) }(), "lcw_http_requests_total") {
		t.Errorf("metrics leaked on the proxy listener")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestTLSListener(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "over tls") }))
	defer up.Close()
	// A self-signed certificate for 127.0.0.1, as cert-manager would mount.
	srvTLS := httptest.NewTLSServer(http.NotFoundHandler())
	cert := srvTLS.TLS.Certificates[0]
	srvTLS.Close()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePEM(t, certFile, "CERTIFICATE", cert.Certificate[0])
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)

	p := startProxy(t, baseConfig(t, up.URL, "server:\n  tls_cert_file: "+certFile+"\n  tls_key_file: "+keyFile+"\n"), nil)
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := client.Get(strings.Replace(p.URL, "http://", "https://", 1) + "/page")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "over tls" || resp.ProtoMajor != 2 {
		t.Fatalf("got %q over HTTP/%d", b, resp.ProtoMajor)
	}

	// Half a TLS configuration, or files that do not load, stop start-up.
	for _, extra := range []string{
		"server:\n  tls_cert_file: " + certFile + "\n",
		"server:\n  tls_cert_file: " + keyFile + "\n  tls_key_file: " + keyFile + "\n",
	} {
		bad := baseConfig(t, up.URL, extra)
		err := run(context.Background(), []string{"check-config", "--config", bad}, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "server.tls_cert_file") {
			t.Errorf("config %q: %v", extra, err)
		}
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRedirectsToTheUpstreamAreMapped(t *testing.T) {
	// Like an app that builds absolute URLs from the Host it sees.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/next?x=1", http.StatusFound)
	}))
	defer up.Close()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		name, extra string
		want        func(proxyURL string) string
	}{
		{"mapped to public_url by default", "",
			func(string) string { return "http://127.0.0.1:4180/next?x=1" }},
		{"left alone when turned off", "upstream:\n  url: " + up.URL + "\n  rewrite_redirects: false\n",
			func(string) string { return up.URL + "/next?x=1" }},
		{"preserve_host: the app already answers with the incoming host", "upstream:\n  url: " + up.URL + "\n  preserve_host: true\n",
			func(p string) string { return p + "/next?x=1" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, baseConfig(t, up.URL, tc.extra), nil)
			resp := testenv.Do(t, noFollow, http.MethodGet, p.URL+"/old", nil)
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got, want := resp.Header.Get("Location"), tc.want(p.URL); got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
		})
	}
}

// main hands the whole environment over, so a misspelt variable is caught.
func TestMisspeltVariableIsRefused(t *testing.T) {
	path := baseConfig(t, "http://127.0.0.1:8080", "")
	environ := []string{"LCW_UPSTREAM_ULR=http://127.0.0.1:9999"}
	p := process{getenv: config.Getenv(environ), environ: environ}
	err := runProcess(context.Background(), []string{"check-config", "--config", path}, p, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "did you mean LCW_UPSTREAM_URL?") {
		t.Fatalf("check-config with LCW_UPSTREAM_ULR: %v", err)
	}
}

// Every command that reads the configuration reads it as serve does: a
// misspelt LCW_* variable stops sessions and token with serve's own
// message, before Redis or the claims file is asked.
func TestMisspeltVariableIsRefusedByEveryCommand(t *testing.T) {
	path := baseConfig(t, "http://127.0.0.1:8080", "")
	environ := []string{"LCW_SESION_STORE=redis"}
	p := process{getenv: config.Getenv(environ), environ: environ}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a serve that did not refuse stops here
	defer cancel()
	serveErr := runProcess(ctx, []string{"serve", "--config", path}, p, io.Discard, io.Discard)
	if serveErr == nil || !strings.Contains(serveErr.Error(), "LCW_SESION_STORE") {
		t.Fatalf("serve with LCW_SESION_STORE: %v", serveErr)
	}
	for _, args := range [][]string{
		{"sessions", "list", "--config", path},
		{"sessions", "revoke", "--config", path, "--sub", "x"},
		{"check-config", "--config", path},
		{"token", "--config", path, "--claims", filepath.Join(t.TempDir(), "absent.json")},
	} {
		err := runProcess(ctx, args, p, io.Discard, io.Discard)
		if err == nil || err.Error() != serveErr.Error() {
			t.Errorf("%s with LCW_SESION_STORE: %v; want serve's %q", strings.Join(args[:2], " "), err, serveErr)
		}
	}
}
