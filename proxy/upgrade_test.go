package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// lenientUpstream switches to whatever protocol a request asks for, and
// after the 101 answers every request that comes through the tunnel, as an
// h2c-capable server would serve the HTTP/2 requests on it. It records the
// Upgrade header of each request it got over a fresh exchange.
type lenientUpstream struct {
	*testenv.RawServer
	mu       sync.Mutex
	upgrades []string
}

func newLenientUpstream(t *testing.T) *lenientUpstream {
	u := &lenientUpstream{}
	u.RawServer = testenv.NewRawServer(t, func(s *testenv.RawServer, _ int, c net.Conn, br *bufio.Reader) {
		tunnel := false
		for {
			req, err := s.ReadReq(br)
			if err != nil {
				return
			}
			if tunnel {
				body := "tunnel served " + req.URL.Path
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				continue
			}
			up := req.Header.Get("Upgrade")
			u.mu.Lock()
			u.upgrades = append(u.upgrades, up)
			u.mu.Unlock()
			if up != "" {
				fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", up)
				tunnel = true
				continue
			}
			body := "upstream served " + req.URL.Path
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	})
	return u
}

func (u *lenientUpstream) lastUpgrade() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.upgrades[len(u.upgrades)-1]
}

// Only the protocols in upstream.allowed_upgrades (websocket by default)
// are switched to. Any other Upgrade, h2c above all, is removed and the
// request forwarded as an ordinary one, so no tunnel opens: a request sent
// next on the connection goes through the proxy again, not straight to the
// upstream.
func TestUpgradeOnlyToAllowedProtocols(t *testing.T) {
	for _, tt := range []struct {
		name     string
		allowed  []string // nil: the default
		upgrade  string
		switches bool
	}{
		{"h2c refused", nil, "h2c", false},
		{"websocket switched", nil, "websocket", true},
		{"websocket in another case switched", nil, "WebSocket", true},
		{"an unlisted protocol refused", nil, "foo/1", false},
		{"a listed protocol switched", []string{"websocket", "foo/1"}, "FOO/1", true},
		{"several protocols refused", []string{"websocket"}, "websocket, h2c", false},
		{"nothing allowed", []string{}, "websocket", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newLenientUpstream(t)
			u := config.Default().Upstream
			if tt.allowed != nil {
				u.AllowedUpgrades = tt.allowed
			}
			rp, err := NewReverseProxy(UpstreamOptions{URL: up.URL, Upstream: u, CookieName: "_lcw", Logger: quietLog})
			if err != nil {
				t.Fatal(err)
			}
			front := httptest.NewServer(rp)
			defer front.Close()

			c, err := net.Dial("tcp", front.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			fmt.Fprintf(c, "GET /public/x HTTP/1.1\r\nHost: shop.example.com\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
				"Upgrade: %s\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", tt.upgrade)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.switches {
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || string(b) != "upstream served /public/x" {
					t.Fatalf("got %d %q, want the ordinary answer", resp.StatusCode, b)
				}
				if got := up.lastUpgrade(); got != "" {
					t.Fatalf("the upstream was asked to switch to %q", got)
				}
				fmt.Fprintf(c, "GET /admin HTTP/1.1\r\nHost: shop.example.com\r\n\r\n")
				resp, err = http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := io.ReadAll(resp.Body); string(b) != "upstream served /admin" {
					t.Fatalf("the next request on the connection: %q, want it proxied as a request of its own", b)
				}
				return
			}
			if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), tt.upgrade) {
				t.Fatalf("got %d Upgrade %q, want the switch to %s", resp.StatusCode, resp.Header.Get("Upgrade"), tt.upgrade)
			}
			if got := up.lastUpgrade(); got != tt.upgrade {
				t.Fatalf("the upstream got Upgrade %q, want %q", got, tt.upgrade)
			}
		})
	}
}
