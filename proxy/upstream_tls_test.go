package proxy

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// An https upstream is dialled with the roots the configuration
// provisioned from upstream.ca_file (Upstream.RootCAs): the proxy reads no
// file of its own. Without them the system's roots refuse a private CA.
func TestUpstreamRootCAs(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream") }))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	pool := x509.NewCertPool()
	pool.AddCert(up.Certificate())
	for _, tt := range []struct {
		name   string
		roots  *x509.CertPool
		status int
	}{
		{"the provisioned CA", pool, http.StatusOK},
		{"the system's roots", nil, http.StatusBadGateway},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default().Upstream
			c.RootCAs = tt.roots
			rp, err := NewReverseProxy(UpstreamOptions{URL: u, Upstream: c, CookieName: "_lcw", Logger: quietLog})
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			rp.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://shop.example/", nil))
			if w.Code != tt.status {
				t.Errorf("%d %s, want %d", w.Code, w.Body, tt.status)
			}
		})
	}
}
