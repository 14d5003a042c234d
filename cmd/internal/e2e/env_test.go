package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/app"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// envOptions shape one end-to-end environment.
type envOptions struct {
	OP    testenv.OPOptions // a FrontchannelLogoutURI that is a path is the proxy's
	NoOP  bool              // start the proxy while the OP is down (OP.Addr must be set)
	Extra string            // YAML appended to the config (sections replace the base's)
	// ExtraFor, when set, adds YAML made from the running OP (its
	// discovery URLs and issuers) after Extra.
	ExtraFor  func(op *testenv.OP) string
	Upstream  http.Handler
	SkipReady bool
	// Replicas: a pre-opened listener, an OP started by the test for
	// several proxies, and the session secret they share.
	Listener net.Listener
	SharedOP *testenv.OP
	Secret   []byte
	// PublicURL is the origin browsers use when another server (nginx)
	// stands in front of the proxy; default: the proxy's own address.
	PublicURL string
	LogOut    io.Writer // where the proxy logs; nil: env.Logs
	// Tracer is handed to the app (Options.Tracer); Env is the whole
	// environment config.Load sees (OTEL_* for tracing).
	Tracer trace.TracerProvider
	Env    map[string]string
	// ProbeInterval is how often the app probes the IdP and Redis
	// (app.Options.ProbeInterval; zero: its default).
	ProbeInterval time.Duration
}

// env is a real OP, a real upstream and the whole proxy on loopback.
type env struct {
	OP       *testenv.OP
	OPOpts   testenv.OPOptions
	Upstream *httptest.Server
	URL      string // the proxy's public URL
	App      *app.App
	Config   *config.Config
	Logs     *testenv.LogBuffer
	KeyFile  string
	cancel   context.CancelFunc
}

// echoUpstream answers with what it received, so tests can see what the
// proxy forwarded.
func echoUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "upstream saw %s %s\n", r.Method, r.URL.RequestURI())
		for _, k := range []string{"Cookie", "X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username"} {
			fmt.Fprintf(w, "%s: %s\n", k, strings.Join(r.Header.Values(k), "|"))
		}
	})
}

func startEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ln := o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	public := "http://" + ln.Addr().String()
	if o.PublicURL != "" {
		public = o.PublicURL
	}
	o.OP.RedirectURIs = append(o.OP.RedirectURIs, public+"/_lcw/callback")
	o.OP.PostLogoutRedirectURIs = append(o.OP.PostLogoutRedirectURIs, public+"/")
	o.OP.FrontchannelLogoutURI = frontchannelURI(public, o.OP.FrontchannelLogoutURI)
	e := &env{URL: public, Logs: &testenv.LogBuffer{}, OPOpts: o.OP}
	issuer := "http://" + o.OP.Addr
	switch {
	case o.SharedOP != nil:
		e.OP = o.SharedOP
		issuer = e.OP.Issuer
	case !o.NoOP:
		e.OP = testenv.StartOP(t, o.OP)
		issuer = e.OP.Issuer
	}
	if o.Upstream == nil {
		o.Upstream = echoUpstream()
	}
	e.Upstream = httptest.NewServer(o.Upstream)
	t.Cleanup(e.Upstream.Close)

	dir := t.TempDir()
	e.KeyFile = testenv.SigningKeyFile(t)
	secret := o.Secret
	if secret == nil {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	base := fmt.Sprintf(`listen: %s
public_url: %s
upstream:
  url: %s
oidc:
  issuer: %s
  client_id: %s
  client_secret: %s
  scopes: [openid, profile, email, offline_access]
session:
  secret: %s
access:
  mode: required
  public_paths: [/public/, /favicon.ico]
token:
  issuer: shop.example.com
  signing_keys:
    - file: %s
%slog:
  level: debug
`, ln.Addr(), public, e.Upstream.URL, issuer, testenv.DefaultClientID, testenv.DefaultClientSecret,
		base64.StdEncoding.EncodeToString(secret), e.KeyFile, testenv.LWIContexts)
	path := filepath.Join(dir, "config.yaml")
	if o.ExtraFor != nil {
		o.Extra += o.ExtraFor(e.OP)
	}
	extra := strings.NewReplacer("{secret}", base64.StdEncoding.EncodeToString(secret), "{issuer}", issuer, "{public}", public,
		"{keyfile}", e.KeyFile).Replace(o.Extra)
	if err := os.WriteFile(path, []byte(testenv.ReplaceSections(base, extra)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(k string) string { return o.Env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	e.Config = cfg
	var logOut io.Writer = e.Logs
	if o.LogOut != nil {
		logOut = o.LogOut
	}
	a, err := app.NewWithOptions(cfg, app.NewLogger(cfg.Log, logOut), app.Options{Tracer: o.Tracer, ProbeInterval: o.ProbeInterval})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	e.App = a
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	a.Start(ctx)
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
		a.Close()
		if t.Failed() {
			t.Logf("proxy logs:\n%s", e.Logs)
		}
	})
	if !o.NoOP && !o.SkipReady {
		e.waitReady(t)
	}
	return e
}

// frontchannelURI is uri, the OP's front-channel logout URI for the
// client, resolved against the proxy's public URL when it is a path.
func frontchannelURI(public, uri string) string {
	if strings.HasPrefix(uri, "/") {
		return public + uri
	}
	return uri
}

func (e *env) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if e.App.Ready() == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("proxy not ready: %v", e.App.Ready())
}

// login signs user in through the proxy with a fresh cookie-jar client and
// returns the client and the final response.
func (e *env) login(t testing.TB, username, password, rd string) (*http.Client, *http.Response) {
	t.Helper()
	c := testenv.NewBrowserClient(t)
	resp := testenv.Login(t, c, e.URL+"/_lcw/login?rd="+rd, username, password)
	return c, resp
}

// noRedirect makes c return redirects instead of following them.
func noRedirect(c *http.Client) *http.Client {
	cp := *c
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

var errNoCookie = errors.New("no cookie")

func (e *env) cookie(c *http.Client, name string) (*http.Cookie, error) {
	u, _ := http.NewRequest(http.MethodGet, e.URL+"/", nil)
	for _, ck := range c.Jar.Cookies(u.URL) {
		if ck.Name == name {
			return ck, nil
		}
	}
	return nil, errNoCookie
}
