package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/h1transport"
)

// earlyHints is an upstream's 103 that tries to set the proxy's session
// cookie (plain and __Host- prefixed) next to a cookie of its own, with a
// preload hint and hop-by-hop fields, before its 200.
const earlyHints = "HTTP/1.1 103 Early Hints\r\n" +
	"Link: </style.css>; rel=preload; as=style\r\n" +
	"Set-Cookie: _lcw=evil; Path=/\r\n" +
	"Set-Cookie: __Host-_lcw=evil; Path=/; Secure\r\n" +
	"Set-Cookie: _lcw_flow_x=evil; Path=/\r\n" +
	"Set-Cookie: theme=dark; Path=/\r\n" +
	"Connection: X-Hop\r\n" +
	"X-Hop: 1\r\n" +
	"Keep-Alive: timeout=5\r\n" +
	"\r\n"

// interimSeen is what a client saw: each 1xx's header and the final one.
type interimSeen struct {
	mu      sync.Mutex
	interim []http.Header
}

func (s *interimSeen) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.interim = append(s.interim, http.Header(h).Clone())
		return nil
	}}
}

// An upstream's 103 Early Hints reaches the client with its Link, never
// with Set-Cookie for the proxy's cookies (or hop-by-hop fields); the
// Set-Cookie the proxy put on the response before proxying (a refreshed
// session) stays out of the 103 and reaches the final response. Both
// transports: the direct one (GET) and http.Transport (a request body).
func TestEarlyHintsAreFiltered(t *testing.T) {
	const refreshed = "_lcw=refreshed; Path=/; HttpOnly"
	up := testenv.NewRawServer(t, testenv.Canned(earlyHints+"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false))
	rp := reverseProxyTo(t, up.URL.String())
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refresh" {
			w.Header().Add("Set-Cookie", refreshed) // as the session refresh does before proxying
		}
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()

	for _, tt := range []struct {
		name, method, path string
		body               io.Reader
		wantFinal          []string
	}{
		{"direct transport", http.MethodGet, "/page", nil, nil},
		{"standard transport", http.MethodPost, "/page", strings.NewReader("a=1"), nil},
		{"direct transport, session refreshed", http.MethodGet, "/refresh", nil, []string{refreshed}},
		{"standard transport, session refreshed", http.MethodPost, "/refresh", strings.NewReader("a=1"), []string{refreshed}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var seen interimSeen
			ctx := httptrace.WithClientTrace(context.Background(), seen.trace())
			req, _ := http.NewRequestWithContext(ctx, tt.method, front.URL+tt.path, tt.body)
			resp, err := front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "ok" {
				t.Fatalf("final answer %d %q", resp.StatusCode, b)
			}
			if len(seen.interim) != 1 {
				t.Fatalf("client saw %d interim responses, want the 103", len(seen.interim))
			}
			hints := seen.interim[0]
			if got := hints.Get("Link"); got != "</style.css>; rel=preload; as=style" {
				t.Errorf("103 Link = %q, want the upstream's hint", got)
			}
			if got := hints.Values("Set-Cookie"); !slices.Equal(got, []string{"theme=dark; Path=/"}) {
				t.Errorf("103 Set-Cookie = %q, want only the site's own cookie", got)
			}
			for _, k := range []string{"Connection", "X-Hop", "Keep-Alive"} {
				if v := hints.Values(k); len(v) > 0 {
					t.Errorf("103 carries hop-by-hop %s: %q", k, v)
				}
			}
			if got := resp.Header.Values("Set-Cookie"); !slices.Equal(got, tt.wantFinal) {
				t.Errorf("final Set-Cookie = %q, want %q", got, tt.wantFinal)
			}
		})
	}
}

// Informational responses are relayed up to the transport's limit and to
// HTTP/1.1 clients only (RFC 9110 §15.2: never to HTTP/1.0); extra ones
// are dropped without failing the request.
func TestInterimResponsesBounded(t *testing.T) {
	hint := "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
	up := testenv.NewRawServer(t, testenv.Canned(strings.Repeat(hint, h1transport.Max1xxResponses+3)+"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false))
	rp := reverseProxyTo(t, up.URL.String())
	front := httptest.NewServer(rp)
	defer front.Close()
	var seen interimSeen
	ctx := httptrace.WithClientTrace(context.Background(), seen.trace())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, front.URL+"/page", strings.NewReader("a=1"))
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" || len(seen.interim) != h1transport.Max1xxResponses {
		t.Fatalf("got %d %q after %d interim responses, want 200 after %d", resp.StatusCode, b, len(seen.interim), h1transport.Max1xxResponses)
	}

	w := httptest.NewRecorder()
	old := httptest.NewRequest(http.MethodPost, "/page", strings.NewReader("a=1"))
	old.Proto, old.ProtoMajor, old.ProtoMinor = "HTTP/1.0", 1, 0
	rec := &codeRecorder{ResponseWriter: w}
	rp.ServeHTTP(rec, old)
	if !slices.Equal(rec.codes, []int{200}) {
		t.Errorf("an HTTP/1.0 client got status lines %v, want only the final 200", rec.codes)
	}
}

// codeRecorder lists every status written, 1xx included.
type codeRecorder struct {
	http.ResponseWriter
	codes []int
}

func (r *codeRecorder) WriteHeader(code int) {
	r.codes = append(r.codes, code)
	r.ResponseWriter.WriteHeader(code)
}
