package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// lenientUpstream switches to any protocol a request asks for and then
// serves every request that comes through the tunnel, trusting its
// headers, as a careless h2c-capable server would.
func lenientUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := r.Header.Get("Upgrade")
		if up == "" {
			fmt.Fprintf(w, "upstream served %s", r.URL.Path)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", up)
		brw.Flush()
		for {
			req, err := http.ReadRequest(brw.Reader)
			if err != nil {
				return
			}
			body := fmt.Sprintf("tunnel served %s to %s", req.URL.Path, req.Header.Get("X-Forwarded-User"))
			fmt.Fprintf(brw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			brw.Flush()
		}
	})
}

// The h2c attack: an anonymous client upgrades a request for a public
// page to h2c and, were the upstream to switch, would send requests for
// protected pages with forged identity headers down the tunnel, past the
// proxy. The proxy never forwards the upgrade, so the next request on the
// connection meets the access rules.
func TestH2CUpgradeOpensNoTunnel(t *testing.T) {
	e := startEnv(t, envOptions{Upstream: lenientUpstream()})
	c, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	fmt.Fprint(c, "GET /public/page HTTP/1.1\r\nHost: shop.example.com\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	if resp.StatusCode != http.StatusSwitchingProtocols { // a 101 has no body: the tunnel starts right after it
		b, _ = io.ReadAll(resp.Body)
	}
	first := fmt.Sprintf("%d %q", resp.StatusCode, b)
	fmt.Fprint(c, "GET /admin HTTP/1.1\r\nHost: shop.example.com\r\nX-Forwarded-User: admin\r\nAccept: application/json\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	if first != `200 "upstream served /public/page"` {
		t.Errorf("the upgrade request got %s, want the public page as an ordinary answer", first)
	}
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(b), "served") {
		t.Errorf("a protected page after the upgrade: %d %q, want the proxy's 401", resp.StatusCode, b)
	}
}
