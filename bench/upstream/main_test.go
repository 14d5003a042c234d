package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/login"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

func TestRoutes(t *testing.T) {
	h := newMux("http://127.0.0.1:8080/idp")
	tests := []struct {
		name        string
		method      string
		path        string
		wantStatus  int
		wantType    string
		wantLen     int
		wantContain string
	}{
		{name: "small is 100 bytes of text", method: "GET", path: "/small", wantStatus: 200, wantType: "text/plain; charset=utf-8", wantLen: smallSize},
		{name: "page is 50 KiB of HTML with a head to inject into", method: "GET", path: "/page", wantStatus: 200, wantType: "text/html; charset=utf-8", wantLen: pageSize, wantContain: "</head>"},
		{name: "HEAD of page is answered with the page headers", method: "HEAD", path: "/page", wantStatus: 200, wantType: "text/html; charset=utf-8", wantLen: -1},
		{name: "unknown path is 404", method: "GET", path: "/nope", wantStatus: 404, wantLen: -1},
		{name: "POST is refused", method: "POST", path: "/small", wantStatus: 405, wantLen: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tc.wantStatus)
			}
			if tc.wantType != "" && rec.Header().Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", rec.Header().Get("Content-Type"), tc.wantType)
			}
			if tc.wantLen >= 0 && rec.Body.Len() != tc.wantLen {
				t.Errorf("body is %d bytes, want %d", rec.Body.Len(), tc.wantLen)
			}
			if tc.wantStatus == 200 {
				want := strconv.Itoa(smallSize)
				if tc.path == "/page" {
					want = strconv.Itoa(pageSize)
				}
				if got := rec.Header().Get("Content-Length"); got != want {
					t.Errorf("Content-Length = %q, want %q", got, want)
				}
			}
			if tc.wantContain != "" && !bytes.Contains(rec.Body.Bytes(), []byte(tc.wantContain)) {
				t.Errorf("body lacks %q", tc.wantContain)
			}
		})
	}
}

// TestDiscovery has the proxy's own discovery read the document, as the
// benchmark's proxies do at start: it fails when go-oidc would refuse it
// (an issuer that is not exactly the configured one, a missing endpoint).
func TestDiscovery(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String() + "/idp"
	srv.Config.Handler = newMux(issuer)
	srv.Start()
	t.Cleanup(srv.Close)
	d, err := login.Discover(t.Context(), srv.Client(), config.OIDC{Issuer: issuer, ClientID: "lcw-bench"})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Provider.Endpoint().TokenURL; got != issuer+"/token" {
		t.Errorf("token endpoint %q, want %q", got, issuer+"/token")
	}
}

func TestPageIsWellFormedAroundHead(t *testing.T) {
	p := pageBody()
	if i, j := bytes.Index(p, []byte("</head>")), bytes.Index(p, []byte("<body>")); i < 0 || j < i {
		t.Fatalf("</head> at %d, <body> at %d: want the head closed before the body", i, j)
	}
	if !bytes.HasSuffix(p, []byte("</html>\n")) {
		t.Errorf("page does not end with </html>")
	}
}

// BenchmarkHandlers shows the upstream's own per-request cost; allocations
// here would be charged to every measured path alike.
func BenchmarkHandlers(b *testing.B) {
	h := newMux("http://127.0.0.1:8080/idp")
	for _, path := range []string{"/small", "/page"} {
		b.Run(path, func(b *testing.B) {
			req := httptest.NewRequest("GET", path, nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
