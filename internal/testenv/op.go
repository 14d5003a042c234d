// Package testenv starts the real servers that tests of the proxy run
// against: an OpenID provider (the zitadel/oidc example OP, in process on
// loopback), a cookie-jar HTTP client that completes its login form, and a
// headless Chromium driven through chromedp.
package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// Defaults of OPOptions.
const (
	DefaultClientID     = "lcw-auth-proxy"
	DefaultClientSecret = "secret"
)

// OPOptions configures StartOP. The zero value is a working provider with
// DefaultUsers and a client that has no registered redirect URIs.
type OPOptions struct {
	// Addr is the listen address; "" means 127.0.0.1:0. A fixed address lets
	// a test start the OP late (or again after Stop) where a proxy already
	// expects it.
	Addr string

	// ClientID and ClientSecret of the one registered confidential web
	// client (client_secret_basic and client_secret_post both work).
	// Defaults: DefaultClientID, DefaultClientSecret.
	ClientID, ClientSecret string

	// RedirectURIs must contain, exactly, every redirect_uri the relying
	// party sends; PostLogoutRedirectURIs every post_logout_redirect_uri.
	RedirectURIs, PostLogoutRedirectURIs []string

	// Users defaults to DefaultUsers().
	Users []User

	// NoEndSession removes end_session_endpoint from discovery and makes
	// the endpoint answer 404, as an OP that does not implement RP-initiated
	// logout would (it is optional in the spec).
	NoEndSession bool

	// ClaimsOnlyInUserinfo makes the OP follow OIDC Core 5.4 strictly: when
	// an access token is issued, email, profile and extra claims are only
	// in the userinfo response, and the ID token carries just sub.
	ClaimsOnlyInUserinfo bool

	// AccessTokenLifetime is announced as expires_in and enforced at the
	// userinfo and introspection endpoints. 0 keeps the example storage's 5
	// minutes, which is also the maximum: the storage rejects its tokens
	// after that whatever we announce, so StartOP fails a test asking more.
	AccessTokenLifetime time.Duration

	// IDTokenLifetime sets the ID token's exp; 0 keeps the example's 1 hour.
	IDTokenLifetime time.Duration
}

// OP is a running OpenID provider.
type OP struct {
	// Issuer is the provider's http://127.0.0.1:PORT URL, exactly as in its
	// discovery document and the iss claim; it has no trailing slash.
	Issuer string
	// Addr is the host:port it listens on, for starting it again after Stop.
	Addr string
	// ClientID and ClientSecret of the registered client.
	ClientID, ClientSecret string
	// Users are the accounts it serves, after defaults were applied.
	Users []User

	srv      *http.Server
	done     chan struct{}
	stopOnce sync.Once
}

// StartOP starts an OpenID provider on loopback and stops it when the test
// ends. The OP is the zitadel/oidc example provider with the example
// in-memory storage; its login page is GET /login/username?authRequestID=…
// and takes a form POST of id, username and password (see Login).
func StartOP(t testing.TB, opts OPOptions) *OP {
	t.Helper()
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if len(opts.Users) == 0 {
		opts.Users = DefaultUsers()
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.AccessTokenLifetime > exampleAccessTokenLifetime {
		t.Fatalf("testenv.StartOP: AccessTokenLifetime %s exceeds the example storage's fixed %s",
			opts.AccessTokenLifetime, exampleAccessTokenLifetime)
	}
	users, err := newUserStore(opts.Users)
	if err != nil {
		t.Fatalf("testenv.StartOP: %v", err)
	}

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		t.Fatalf("testenv.StartOP: listen on %s: %v", opts.Addr, err)
	}
	issuer := "http://" + ln.Addr().String()

	// A nil logger keeps exampleop from replacing the process-wide slog
	// default. exampleop already allows the http issuer (op.WithAllowInsecure).
	var handler http.Handler = exampleop.SetupServer(issuer, newClaimsStorage(users, opts), nil, false)
	if opts.NoEndSession {
		handler = withoutEndSession(handler)
	}

	o := &OP{
		Issuer:       issuer,
		Addr:         ln.Addr().String(),
		ClientID:     opts.ClientID,
		ClientSecret: opts.ClientSecret,
		Users:        opts.Users,
		srv:          &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second},
		done:         make(chan struct{}),
	}
	go func() {
		defer close(o.done)
		if err := o.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			// Not t.Errorf: Serve may return after the test ended.
			slog.Error("testenv: OP stopped serving", "issuer", issuer, "err", err)
		}
	}()
	t.Cleanup(o.Stop)
	return o
}

// Stop closes the listener and every open connection, so the provider looks
// down to its clients. It is idempotent and safe to call from any goroutine.
func (o *OP) Stop() {
	o.stopOnce.Do(func() {
		_ = o.srv.Close() // Close only reports listener errors, which change nothing here.
		<-o.done
	})
}

// DiscoveryURL is the provider's discovery document URL.
func (o *OP) DiscoveryURL() string {
	return o.Issuer + oidc.DiscoveryEndpoint
}

// endSessionPath is where the example OP serves RP-initiated logout.
const endSessionPath = "/end_session"

// withoutEndSession hides the OP's end_session endpoint: the library offers
// no option to leave it out (a nil endpoint fails validation), so the
// discovery document is edited on its way out.
func withoutEndSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case endSessionPath:
			http.NotFound(w, r)
		case oidc.DiscoveryEndpoint:
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body, err := dropEndSession(rec.Result())
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body) // the client went away; nothing to do
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// dropEndSession removes end_session_endpoint from a discovery response.
func dropEndSession(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read discovery document: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode discovery document: %w", err)
	}
	delete(doc, "end_session_endpoint")
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(doc); err != nil {
		return nil, fmt.Errorf("encode discovery document: %w", err)
	}
	return buf.Bytes(), nil
}
