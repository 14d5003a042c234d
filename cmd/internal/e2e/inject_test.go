package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

func htmlSite() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><html><head><title>x</title></head><body>page</body></html>")
	})
}

func TestInjectSignedInOnly(t *testing.T) {
	e := startEnv(t, envOptions{Upstream: htmlSite(), Extra: "access:\n  mode: optional\ninject:\n  enabled: true\n  signed_in_only: true\n"})
	tag := `<script src="/_lcw/bootstrap.js`
	anon := body(t, testenv.Do(t, &http.Client{}, "GET", e.URL+"/", navigate))
	if strings.Contains(anon, tag) {
		t.Fatalf("anonymous page injected:\n%s", anon)
	}
	c, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	signed := body(t, testenv.Do(t, c, "GET", e.URL+"/", navigate))
	if strings.Count(signed, tag) != 1 || !strings.Contains(signed, "</script></head>") {
		t.Fatalf("signed-in page not injected once before </head>:\n%s", signed)
	}
	// bootstrap.js and the token endpoint are served whatever the setting.
	if r := testenv.Do(t, c, "GET", e.URL+"/_lcw/bootstrap.js", nil); r.StatusCode != 200 || !strings.Contains(r.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("bootstrap.js: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
}

func TestInjectDisabledStillServesBootstrap(t *testing.T) {
	e := startEnv(t, envOptions{Upstream: htmlSite(), Extra: "access:\n  mode: optional\n"})
	page := body(t, testenv.Do(t, &http.Client{}, "GET", e.URL+"/", navigate))
	if strings.Contains(page, "bootstrap.js") {
		t.Fatalf("injected with inject.enabled off:\n%s", page)
	}
	// Sites that add the tag themselves still get the script.
	if r := testenv.Do(t, &http.Client{}, "GET", e.URL+"/_lcw/bootstrap.js", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("bootstrap.js with injection off: %d", r.StatusCode)
	}
}
