package proxy

import (
	"net/http"
	"net/url"
	"testing"
)

func TestRedirectRewriter(t *testing.T) {
	public := &url.URL{Scheme: "https", Host: "shop.example.com"}
	tests := []struct {
		upstream, in, want string
	}{
		// The upstream's own address, however it is spelled.
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/login?next=%2Fa#top", "https://shop.example.com/login?next=%2Fa#top"},
		{"http://app", "http://app:80/x", "https://shop.example.com/x"},
		{"http://app:80", "HTTP://APP/x", "https://shop.example.com/x"},
		{"http://app", "http://app", "https://shop.example.com/"},
		{"http://app", "http://app?q=1", "https://shop.example.com/?q=1"},
		{"https://app", "https://app:443/x", "https://shop.example.com/x"},
		{"http://[::1]:8080", "http://[::1]:8080/x", "https://shop.example.com/x"},
		// The upstream's base path maps to the root.
		{"http://app/base", "http://app/base/x", "https://shop.example.com/x"},
		{"http://app/base/", "http://app/base", "https://shop.example.com/"},
		{"http://app/base", "http://app/base?x=1", "https://shop.example.com/?x=1"},
		// Everything else is left exactly as the upstream sent it.
		{"http://app/base", "http://app/basement", "http://app/basement"},
		{"http://app/base", "http://app/other", "http://app/other"},
		{"http://app", "/relative", "/relative"},
		{"http://app", "//app/x", "//app/x"},
		{"http://app", "https://app/x", "https://app/x"},
		{"http://app", "http://app:8080/x", "http://app:8080/x"},
		{"http://app", "http://app.evil.example/x", "http://app.evil.example/x"},
		{"http://app", "http://evil.example/http://app/x", "http://evil.example/http://app/x"},
		{"http://app", "http://app@evil.example/x", "http://app@evil.example/x"},
		{"http://app", "http://user@app/x", "http://user@app/x"},
		{"http://app", "https://login.example.com/authorize?redirect_uri=http://app/cb", "https://login.example.com/authorize?redirect_uri=http://app/cb"},
		{"http://app", "", ""},
	}
	for _, tc := range tests {
		up, err := url.Parse(tc.upstream)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"Location": {tc.in}}
		newRedirectRewriter(up, public).rewrite(h)
		if got := h.Get("Location"); got != tc.want {
			t.Errorf("upstream %s: Location %q → %q, want %q", tc.upstream, tc.in, got, tc.want)
		}
	}
}

func TestRedirectRewriterRefresh(t *testing.T) {
	up, _ := url.Parse("http://127.0.0.1:8080")
	h := http.Header{"Refresh": {"5; URL=http://127.0.0.1:8080/next"}, "Content-Location": {"http://127.0.0.1:8080/c"}}
	newRedirectRewriter(up, &url.URL{Scheme: "https", Host: "shop.example.com"}).rewrite(h)
	if got := h.Get("Refresh"); got != "5; URL=https://shop.example.com/next" {
		t.Errorf("Refresh = %q", got)
	}
	if got := h.Get("Content-Location"); got != "http://127.0.0.1:8080/c" {
		t.Errorf("Content-Location changed to %q; only redirects are mapped", got)
	}
}

func FuzzRedirectRewriter(f *testing.F) {
	for _, s := range []string{"http://app/base/x", "http://app@x/", "HTTP://APP:80", "5; url=http://app/base", ""} {
		f.Add(s)
	}
	up, _ := url.Parse("http://app/base")
	rw := newRedirectRewriter(up, &url.URL{Scheme: "https", Host: "shop.example.com"})
	f.Fuzz(func(t *testing.T, loc string) {
		out, ok := rw.mapURL(loc)
		if !ok {
			return
		}
		// A mapped URL always lands on the public origin, at a path.
		u, err := url.Parse(out)
		if len(out) < len("https://shop.example.com/") || out[:len("https://shop.example.com/")] != "https://shop.example.com/" {
			t.Fatalf("%q → %q: not on the public origin", loc, out)
		}
		if err == nil && u.Host != "shop.example.com" {
			t.Fatalf("%q → %q parses to host %q", loc, out, u.Host)
		}
	})
}
