package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

func testStripper() *headerStripper {
	cfg := config.Default()
	cfg.Headers.Strip = []string{"X-Legacy-Auth"}
	return newHeaderStripper(cfg.Session.CookieName, cfg.Headers)
}

func TestStripCookies(t *testing.T) {
	s := testStripper()
	tests := []struct{ in, want string }{
		{"site=1", "site=1"},
		{"_lcw=abc", ""},
		{"_lcw=abc; site=1", "site=1"},
		{"site=1; _lcw_1=x; other=2", "site=1; other=2"},
		{"_lcw_flow_abc=1;_lcw_2=2;  keep=me", "keep=me"},
		{"_lcwx=1", "_lcwx=1"}, // another cookie that merely starts alike
		{"x_lcw=1", "x_lcw=1"},
		{"; ;_lcw=1;;", ""},
		{"=nameless; _lcw=1", "=nameless"},
		{"__Host-_lcw=1; __Host-_lcw_1=2; __Host-_lcw_flow_x=3; __Secure-_lcw=4; a=b", "a=b"},
		{"__Host-site=1", "__Host-site=1"},
	}
	for _, tt := range tests {
		if got := s.stripCookies(tt.in); got != tt.want {
			t.Errorf("stripCookies(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCleanStripsIdentityHeaderVariants(t *testing.T) {
	s := testStripper()
	h := http.Header{}
	for _, k := range []string{"X-Forwarded-User", "x-forwarded-user", "X_FORWARDED_EMAIL", "x_Forwarded-Groups",
		"X-Forwarded-Preferred_Username", "X-Legacy-Auth", "x_legacy_auth", "Remote-User"} {
		h[k] = []string{"forged"}
	}
	h["X-Forwarded-Userx"] = []string{"kept"}
	h["Cookie"] = []string{"_lcw=1"}
	s.clean(h, true) // identity headers go even from a trusted proxy
	if len(h) != 1 || h.Get("X-Forwarded-Userx") != "kept" {
		t.Fatalf("after clean: %v", h)
	}
}

func TestCleanStripsRoutingHeadersFromUntrustedPeers(t *testing.T) {
	s := testStripper()
	forged := func() http.Header {
		h := http.Header{"Accept": {"text/html"}}
		for _, k := range []string{"X-Original-URL", "x-rewrite-url", "X_Original_URL", "X-Forwarded-Uri", "X-Forwarded-Prefix",
			"X-Forwarded-Port", "X-Forwarded-Server", "X-Real-IP", "True-Client-IP", "X-Client-IP", "X-Original-Forwarded-For",
			"Forwarded", "X_Forwarded_Host", "x_forwarded_proto", "X_Forwarded_For", "Traceparent", "tracestate", "Baggage"} {
			h[k] = []string{"/admin"}
		}
		return h
	}
	h := forged()
	s.clean(h, false)
	if len(h) != 1 || h.Get("Accept") != "text/html" {
		t.Errorf("from an untrusted peer, after clean: %v", h)
	}
	h = forged()
	s.clean(h, true)
	if len(h) != 19 {
		t.Errorf("from a trusted proxy the routing headers pass, after clean: %v", h)
	}
}

func TestUnderPrefix(t *testing.T) {
	tests := map[string]bool{
		"/_lcw": true, "/_lcw/": true, "/_lcw/token": true, "/x/../_lcw/token": true, "//_lcw/token": true,
		"/_lcwx": false, "/_lcw_/token": false, "/shop": false, "/shop/_lcw": false, "/_lcw/../shop": false,
	}
	for p, want := range tests {
		if got := underPrefix(p, "/_lcw"); got != want {
			t.Errorf("underPrefix(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzStripCookies: whatever the Cookie header, none of the proxy's cookies
// survive, every other well-formed cookie does, and nothing panics.
func FuzzStripCookies(f *testing.F) {
	for _, seed := range []string{"_lcw=1; a=b", "a=b;_lcw_3=x", ";;;", "_lcw", "a=\"b;c\"; _lcw=1"} {
		f.Add(seed)
	}
	s := testStripper()
	f.Fuzz(func(t *testing.T, in string) {
		out := s.stripCookies(in)
		for _, part := range strings.Split(out, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if s.ours(name) {
				t.Fatalf("stripCookies(%q) kept %q", in, name)
			}
		}
		for _, part := range strings.Split(in, ";") {
			part = strings.TrimSpace(part)
			name, _, _ := strings.Cut(part, "=")
			if part != "" && !s.ours(name) && !strings.Contains(out, part) {
				t.Fatalf("stripCookies(%q) lost %q: %q", in, part, out)
			}
		}
	})
}

func TestSetCookieName(t *testing.T) {
	tests := []struct{ line, name, value string }{
		{"a=b", "a", "b"},
		{"a=b; Path=/; HttpOnly", "a", "b"},
		{"  a = b ", "a", "b"},
		{"\ta\t=\tb", "a", "b"},
		{"a=b=c", "a", "b=c"},
		{"A=b", "A", "b"},
		{"=b", "", "b"},
		{"b", "", "b"}, // no '=': a value with an empty name
		{"b; a=c", "", "b"},
		{";a=b", "", ""},
		{"", "", ""},
		{"a", "", "a"},
		{"\u00a0a=b", "\u00a0a", "b"}, // browsers trim only spaces and tabs
	}
	for _, tt := range tests {
		if name, value := setCookieName(tt.line); name != tt.name || value != tt.value {
			t.Errorf("setCookieName(%q) = %q, %q; want %q, %q", tt.line, name, value, tt.name, tt.value)
		}
	}
}

func TestDropOwnSetCookies(t *testing.T) {
	s := testStripper()
	tests := []struct {
		line string
		ours bool
	}{
		{"_lcw=x; Path=/", true},
		{"_lcw=; Max-Age=0", true},
		{"_lcw_1=x", true},
		{"_lcw_12=x", true},
		{"_lcw_flow_abc=x; Path=/_lcw/callback", true},
		{" _lcw=x", true},
		{"\t_lcw =x", true},
		{"\u00a0_lcw=x", true}, // our Cookie readers trim Unicode spaces
		{"=_lcw=x", true},      // nameless: the browser sends back "_lcw=x"
		{"= _lcw_1=x", true},
		{"_lcw", true},                          // nameless again: sent back as a bare "_lcw"
		{"__Host-_lcw=x; Secure; Path=/", true}, // the name the proxy uses with an https public_url
		{"__Host-_lcw_flow_abc=x", true},
		{"__Secure-_lcw=x", true},
		{"__Host-site=x", false},
		{"_LCW=x", false},
		{"_lcwx=x", false},
		{"x_lcw=x", false},
		{"site=_lcw=x", false},
		{"site=1; Path=/_lcw", false},
		{"=nameless", false},
		{"", false},
		{";", false},
	}
	for _, tt := range tests {
		h := http.Header{"Set-Cookie": {"keep=1", tt.line, "keep=2"}, "Other": {"_lcw=x"}}
		s.dropOwnSetCookies(h)
		want := []string{"keep=1", tt.line, "keep=2"}
		if tt.ours {
			want = []string{"keep=1", "keep=2"}
		}
		if got := h["Set-Cookie"]; strings.Join(got, "\n") != strings.Join(want, "\n") || h.Get("Other") != "_lcw=x" {
			t.Errorf("Set-Cookie %q: after drop %q, want %q", tt.line, got, want)
		}
	}
	h := http.Header{"Set-Cookie": {"_lcw=1", "_lcw_2=2"}}
	s.dropOwnSetCookies(h)
	if _, ok := h["Set-Cookie"]; ok {
		t.Errorf("empty Set-Cookie left behind: %q", h)
	}
}

// FuzzSetCookieName: whatever the upstream's Set-Cookie line, nothing
// panics, and when the cookie a browser would store from it comes back in a
// Cookie header that our readers (the request-side stripper, which scans
// like the session store, and net/http's parser used by the login flow)
// take for one of ours, the line is dropped.
func FuzzSetCookieName(f *testing.F) {
	for _, seed := range []string{"_lcw=1; Path=/", "=_lcw=x", " _lcw_1 = x", "_lcw", "a=b", "\u00a0_lcw=x", ";", ""} {
		f.Add(seed)
	}
	s := testStripper()
	f.Fuzz(func(t *testing.T, line string) {
		name, value := setCookieName(line)
		if strings.ContainsAny(name, ";=") || strings.Trim(name, " \t") != name || strings.Contains(value, ";") {
			t.Fatalf("setCookieName(%q) = %q, %q", line, name, value)
		}
		sent := value // a browser sends a nameless cookie as its bare value
		if name != "" {
			sent = name + "=" + value
		}
		readAsOurs := s.stripCookies(sent) != sent
		for _, c := range (&http.Request{Header: http.Header{"Cookie": {sent}}}).Cookies() {
			readAsOurs = readAsOurs || s.ours(c.Name)
		}
		h := http.Header{"Set-Cookie": {line}}
		s.dropOwnSetCookies(h)
		if dropped := len(h["Set-Cookie"]) == 0; readAsOurs && !dropped {
			t.Fatalf("Set-Cookie %q kept, but comes back as %q, one of ours", line, sent)
		}
	})
}
