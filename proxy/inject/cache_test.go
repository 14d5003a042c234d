package inject

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// A nonce is per response: a shared cache that stored the page would hand
// one nonce to every visitor, and anyone who reads it could get a script
// past the policy wherever the page reflects markup. Once a nonce is in the
// page, shared caches must not store it; the browser's own cache may.
func TestNonceMakesResponsePrivate(t *testing.T) {
	tests := []struct {
		name string
		in   []string // Cache-Control lines from the upstream
		want string
	}{
		{"none: heuristic caching ruled out", nil, "private"},
		{"public replaced", []string{"public, max-age=600"}, "private, max-age=600"},
		{"s-maxage removed, private added", []string{"max-age=600, s-maxage=3600"}, "private, max-age=600"},
		{"both", []string{"public, s-maxage=3600, max-age=60, must-revalidate"}, "private, max-age=60, must-revalidate"},
		{"directive names in any case", []string{"S-MaxAge=10, PUBLIC"}, "private"},
		{"no-store stays", []string{"no-store"}, "private, no-store"},
		{"already private", []string{"private, max-age=0"}, "private, max-age=0"},
		{"private for some fields only becomes private for all", []string{`private="Set-Cookie", max-age=60`}, "private, max-age=60"},
		{"commas inside quoted strings", []string{`no-cache="Set-Cookie, X-A", public`}, `private, no-cache="Set-Cookie, X-A"`},
		{"several lines become one", []string{"public", "max-age=60", "s-maxage=60"}, "private, max-age=60"},
		{"public and private both given", []string{"public, private"}, "private"},
		{"empty members dropped", []string{" , public,, "}, "private"},
		{"an unclosed quote cannot swallow private", []string{`max-age=60, x="`}, `private, max-age=60, x="`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj, _ := testInjector(t, nil)
			h := http.Header{"Content-Type": {"text/html"}, "Content-Security-Policy": {"script-src 'self'"}}
			for _, v := range tc.in {
				h.Add("Cache-Control", v)
			}
			h.Set("CDN-Cache-Control", "max-age=3600")
			h.Set("Cloudflare-CDN-Cache-Control", "max-age=3600")
			h.Set("Surrogate-Control", "max-age=3600")
			resp, out := run(t, inj, response{header: h, body: []byte("<head></head>")})
			if !bytes.Contains(out, []byte(`nonce="`)) {
				t.Fatalf("no nonce inserted: %s", out)
			}
			if got := resp.Header.Values("Cache-Control"); strings.Join(got, "|") != tc.want {
				t.Errorf("Cache-Control = %q, want %q", got, tc.want)
			}
			// Targeted fields (RFC 9213) override Cache-Control at the
			// caches they name.
			for _, k := range []string{"CDN-Cache-Control", "Cloudflare-CDN-Cache-Control", "Surrogate-Control"} {
				if v := resp.Header.Get(k); v != "" {
					t.Errorf("%s: %s left on a page with a nonce", k, v)
				}
			}
		})
	}
}

// Without a nonce the page is the same for everyone: caching stays the
// site's decision.
func TestNoNonceKeepsCaching(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		body   string
	}{
		{"no policy", http.Header{}, "<head></head>"},
		{"already injected", http.Header{"Content-Security-Policy": {"script-src 'self'"}}, `<head><script src="/_lcw/bootstrap.js"></script></head>`},
		{"policy too large to touch", http.Header{"Content-Security-Policy": {strings.Repeat("img-src *,", 17)}}, "<head></head>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj, _ := testInjector(t, nil)
			h := tc.header
			h.Set("Content-Type", "text/html")
			h.Set("Cache-Control", "public, s-maxage=600")
			h.Set("CDN-Cache-Control", "max-age=3600")
			resp, out := run(t, inj, response{header: h, body: []byte(tc.body)})
			if bytes.Contains(out, []byte(`nonce="`)) {
				t.Fatalf("nonce inserted: %s", out)
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, s-maxage=600" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := resp.Header.Get("CDN-Cache-Control"); got != "max-age=3600" {
				t.Errorf("CDN-Cache-Control = %q", got)
			}
		})
	}
}

// A policy in a <meta> tag puts the nonce in the page just the same.
func TestMetaNonceMakesResponsePrivate(t *testing.T) {
	inj, _ := testInjector(t, nil)
	h := http.Header{"Content-Type": {"text/html"}, "Cache-Control": {"public, max-age=60"}}
	page := `<head><meta http-equiv="Content-Security-Policy" content="script-src 'self'"></head>`
	resp, out := run(t, inj, response{header: h, body: []byte(page)})
	if !bytes.Contains(out, []byte(`nonce="`)) {
		t.Fatalf("no nonce inserted: %s", out)
	}
	if got := resp.Header.Get("Cache-Control"); got != "private, max-age=60" {
		t.Errorf("Cache-Control = %q", got)
	}
}

func TestSplitCacheControl(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"public, max-age=60", []string{"public", "max-age=60"}},
		{` no-cache="a, b" ,private`, []string{`no-cache="a, b"`, "private"}},
		{`no-cache="a\", public", max-age=1`, []string{`no-cache="a\", public"`, "max-age=1"}},
		{`no-cache="a, public`, []string{`no-cache="a, public`}},
		{`no-cache="a\`, []string{`no-cache="a\`}},
		{",,", nil},
		{"", nil},
	}
	for _, tt := range tests {
		if got := splitCacheControl(tt.in); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("splitCacheControl(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzMakePrivate: whatever the upstream's Cache-Control, the result is
// private exactly once, says nothing to shared caches, and keeps every
// other directive in order.
func FuzzMakePrivate(f *testing.F) {
	for _, s := range []string{"public, max-age=60", `no-cache="a, b", public`, "s-maxage=1, no-store", `private="x`, `a="\`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{"Cache-Control": {v}}
		makePrivate(h)
		var kept []string
		for _, d := range splitCacheControl(v) {
			switch name, _, _ := strings.Cut(d, "="); strings.ToLower(strings.TrimSpace(name)) {
			case "public", "private", "s-maxage":
			default:
				kept = append(kept, d)
			}
		}
		var private int
		var rest []string
		for _, d := range splitCacheControl(h.Get("Cache-Control")) {
			switch name, _, _ := strings.Cut(d, "="); strings.ToLower(strings.TrimSpace(name)) {
			case "private":
				private++
				if d != "private" {
					t.Fatalf("%q: field-limited %q left", v, d)
				}
			case "public", "s-maxage":
				t.Fatalf("%q → %q: %s left", v, h.Get("Cache-Control"), d)
			default:
				rest = append(rest, d)
			}
		}
		if !strings.HasPrefix(h.Get("Cache-Control"), "private") {
			t.Fatalf("%q → %q: private not first", v, h.Get("Cache-Control"))
		}
		if private != 1 || strings.Join(rest, "\x00") != strings.Join(kept, "\x00") {
			t.Fatalf("%q → %q: private %d times, kept %q of %q", v, h.Get("Cache-Control"), private, rest, kept)
		}
	})
}
