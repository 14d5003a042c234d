package request

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func newRequest(method string, hdr map[string]string) *http.Request {
	r := httptest.NewRequest(method, "https://shop.example.com/x", nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func TestPageLoadAndScripted(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		hdr      map[string]string
		pageLoad bool
		scripted bool
	}{
		{"top-level document", "GET", map[string]string{"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}, true, false},
		{"iframe", "GET", map[string]string{"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Mode": "navigate"}, true, false},
		{"fetch() of HTML", "GET", map[string]string{"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors", "Accept": "text/html"}, false, true},
		{"image", "GET", map[string]string{"Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"}, false, true},
		{"mode only, navigate", "GET", map[string]string{"Sec-Fetch-Mode": "navigate", "Accept": "*/*"}, true, false},
		{"mode only, cors", "GET", map[string]string{"Sec-Fetch-Mode": "cors", "Accept": "text/html"}, false, true},
		{"mode only, no-cors", "GET", map[string]string{"Sec-Fetch-Mode": "no-cors"}, false, true},
		{"old browser page load", "GET", map[string]string{"Accept": "text/html,application/xhtml+xml"}, true, false},
		{"old browser XHR", "GET", map[string]string{"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"}, false, true},
		{"XHR marker in any case", "GET", map[string]string{"Accept": "text/html", "X-Requested-With": "xmlhttprequest"}, false, true},
		// Android WebViews name the app in X-Requested-With on navigations.
		{"Android WebView navigation", "GET", map[string]string{"Accept": "text/html", "X-Requested-With": "com.example.shop"}, true, false},
		{"JSON client", "GET", map[string]string{"Accept": "application/json"}, false, false},
		{"curl", "GET", map[string]string{"Accept": "*/*"}, false, false},
		{"no headers", "GET", nil, false, false},
		{"POSTed form", "POST", map[string]string{"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}, true, false},
	}
	for _, tt := range tests {
		r := newRequest(tt.method, tt.hdr)
		if got := IsPageLoad(r); got != tt.pageLoad {
			t.Errorf("%s: IsPageLoad = %v, want %v", tt.name, got, tt.pageLoad)
		}
		if got := IsScripted(r); got != tt.scripted {
			t.Errorf("%s: IsScripted = %v, want %v", tt.name, got, tt.scripted)
		}
	}
}

func TestReplayable(t *testing.T) {
	for method, want := range map[string]bool{"GET": true, "HEAD": true, "POST": false, "PUT": false, "DELETE": false} {
		if got := Replayable(newRequest(method, nil)); got != want {
			t.Errorf("Replayable(%s) = %v", method, got)
		}
	}
}

func TestFrom(t *testing.T) {
	const origin = "https://shop.example.com"
	tests := []struct {
		name string
		hdr  map[string]string
		want Site
	}{
		{"same-origin fetch", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": origin}, SiteSameOrigin},
		{"same-origin GET without Origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, SiteSameOrigin},
		{"typed into the address bar", map[string]string{"Sec-Fetch-Site": "none"}, SiteUser},
		{"another site", map[string]string{"Sec-Fetch-Site": "cross-site"}, SiteCross},
		{"a sibling subdomain", map[string]string{"Sec-Fetch-Site": "same-site"}, SiteCross},
		{"foreign Origin, no Fetch metadata", map[string]string{"Origin": "https://evil.example"}, SiteCross},
		{"foreign Origin although same-origin claimed", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"}, SiteCross},
		{"null Origin (sandboxed frame)", map[string]string{"Origin": "null"}, SiteCross},
		{"Origin in other letter case", map[string]string{"Origin": "HTTPS://Shop.Example.com"}, SiteSameOrigin},
		{"Origin with another port", map[string]string{"Origin": origin + ":8443"}, SiteCross},
		{"unknown Sec-Fetch-Site value", map[string]string{"Sec-Fetch-Site": "weird"}, SiteCross},
		{"curl", nil, SiteUnknown},
	}
	for _, tt := range tests {
		r := newRequest("GET", tt.hdr)
		if got := From(r, origin); got != tt.want {
			t.Errorf("%s: From = %v, want %v", tt.name, got, tt.want)
		}
		if got, want := SameOrigin(r, origin), tt.want == SiteSameOrigin || tt.want == SiteUnknown; got != want {
			t.Errorf("%s: SameOrigin = %v, want %v", tt.name, got, want)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	tests := []struct {
		accept string
		alt    string
		want   bool
	}{
		{"", "application/jwt", false},
		{"*/*", "application/jwt", false},
		{"application/json", "application/jwt", true},
		{"application/jwt", "application/jwt", false},
		{"application/json, application/jwt", "application/jwt", true},
		{"application/json;q=0.5, application/jwt", "application/jwt", false},
		{"application/jwt;q=0.1, application/json;q=0.9", "application/jwt", true},
		{"application/json;q=0", "application/jwt", false},
		{"application/json;q=abc", "application/jwt", false},
		{"Application/JSON; charset=utf-8", "application/jwt", true},
		{"text/html,application/xhtml+xml,*/*;q=0.8", "text/html", false},
		{"application/json, text/plain, */*", "text/html", true},
		{"application/json;q=0.9, text/html", "text/html", false},
	}
	for _, tt := range tests {
		r := newRequest("GET", map[string]string{"Accept": tt.accept})
		if tt.accept == "" {
			r.Header.Del("Accept")
		}
		if got := WantsJSON(r, tt.alt); got != tt.want {
			t.Errorf("WantsJSON(%q over %s) = %v, want %v", tt.accept, tt.alt, got, tt.want)
		}
	}
}

func TestWeighted(t *testing.T) {
	got := map[string]float64{}
	for name, q := range Weighted([]string{"gzip;q=0.5, BR", "zstd;q=2, deflate;Q=0.25, , identity;q=x, compress;q=NaN"}) {
		got[name] = q
	}
	want := map[string]float64{"gzip": 0.5, "br": 1, "zstd": 0, "deflate": 0.25, "identity": 0, "compress": 0}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: q = %v, want %v", k, got[k], v)
		}
	}
}

func FuzzWeighted(f *testing.F) {
	f.Add("gzip;q=0.5, br;q=1.0, *;q=0")
	f.Fuzz(func(t *testing.T, s string) {
		for name, q := range Weighted([]string{s}) {
			if name == "" || !(q >= 0 && q <= 1) {
				t.Fatalf("element %q with q %v", name, q)
			}
		}
	})
}

// Without trusted proxies, Client strips the port without parsing the
// address: the same answer as the parsing path gives an untrusted peer.
func TestClientWithoutTrustedProxies(t *testing.T) {
	for _, peer := range []string{"203.0.113.7:5555", "[2001:db8::2]:80", "[::1]:0", "pipe", "", "::1", "1.2.3.4:",
		"1.2.3.4:80x", ":80", "[::1]", "[]:80", "[:80", "[:]:80", "[1.2.3.4]:80", "::1]:80", "host.example:80"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header["X-Forwarded-For"] = []string{"198.51.100.2"}
		want := Client(r, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
		if peer == "host.example:80" {
			want = "host.example" // not an address, which net/http never reports: its host
		}
		if got := Client(r, nil); got != want {
			t.Errorf("RemoteAddr %q: Client without trusted proxies = %q, want %q", peer, got, want)
		}
	}
}

func TestClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tt := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer: its own address", "203.0.113.7:5555", nil, "203.0.113.7"},
		{"untrusted peer's X-Forwarded-For is ignored", "203.0.113.7:5555", []string{"1.2.3.4"}, "203.0.113.7"},
		{"trusted peer without the header", "10.0.0.1:80", nil, "10.0.0.1"},
		{"trusted peer: the hop it saw", "10.0.0.1:80", []string{"198.51.100.2"}, "198.51.100.2"},
		{"spoofed left entries are skipped", "10.0.0.1:80", []string{"6.6.6.6, 198.51.100.2, 10.0.0.9"}, "198.51.100.2"},
		{"several header lines, read from the last", "10.0.0.1:80", []string{"6.6.6.6", "198.51.100.2, 10.0.0.9"}, "198.51.100.2"},
		{"every hop trusted: the leftmost", "10.0.0.1:80", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"garbage stops at the last trusted hop", "10.0.0.1:80", []string{"1.2.3.4, <script>, 10.0.0.2"}, "10.0.0.2"},
		{"garbage right at the peer", "10.0.0.1:80", []string{"evil\r\nx"}, "10.0.0.1"},
		{"IPv6 peer", "[::1]:80", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv6 untrusted peer", "[2001:db8::2]:80", nil, "2001:db8::2"},
		{"empty entries", "10.0.0.1:80", []string{" , 198.51.100.2 ,"}, "198.51.100.2"},
		{"no port (tests)", "pipe", nil, "pipe"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			if tt.xff != nil {
				r.Header["X-Forwarded-For"] = tt.xff
			}
			if got := Client(r, trusted); got != tt.want {
				t.Errorf("Client = %q, want %q", got, tt.want)
			}
		})
	}
}

// For any peer net/http could report (an address and port), the fast path
// answers as the parsing one; for anything else it must not panic.
func FuzzClientWithoutTrustedProxies(f *testing.F) {
	for _, s := range []string{"203.0.113.7:5555", "[2001:db8::2]:80", "[fe80::1%eth0]:1", "pipe", "[:80", "::1"} {
		f.Add(s)
	}
	other := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	f.Fuzz(func(t *testing.T, peer string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		got := Client(r, nil)
		if ap, err := netip.ParseAddrPort(peer); err == nil && !other[0].Contains(ap.Addr().Unmap()) {
			if want := Client(r, other); got != want {
				t.Fatalf("RemoteAddr %q: %q without trusted proxies, %q parsed", peer, got, want)
			}
		}
	})
}
