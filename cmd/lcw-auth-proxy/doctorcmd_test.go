package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// doctor against the whole program serving a site: its findings on
// stdout, exit status 1 when it finds errors, 2 for a wrong command line.
func TestDoctorCommand(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<!doctype html><html><head><title>Shop</title></head><body>shop</body></html>"))
	}))
	t.Cleanup(site.Close)
	doctor := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"doctor"}, args...), func(string) string { return "" }, &out, io.Discard)
		return out.String(), err
	}

	t.Run("a working site", func(t *testing.T) {
		p := startProxy(t, baseConfig(t, site.URL, "inject:\n  enabled: true\n"), nil)
		out, err := doctor(p.URL + "/")
		if err != nil || !strings.Contains(out, "OK    page  the page loads bootstrap.js, which defines lcwAuth.getAuthenticationToken") ||
			!strings.HasSuffix(out, "0 error(s), 0 warning(s)\n") {
			t.Errorf("doctor: %v\n%s", err, out)
		}
	})

	t.Run("a page without the bootstrap: exit status 1", func(t *testing.T) {
		p := startProxy(t, baseConfig(t, site.URL, ""), nil)
		out, err := doctor("--timeout", "5s", p.URL+"/")
		if err == nil || exitCode(err) != 1 || !strings.Contains(out, "ERROR page  "+p.URL+"/ carries no bootstrap tag") {
			t.Errorf("doctor: %v (exit %d)\n%s", err, exitCode(err), out)
		}
	})

	t.Run("a cookie file that is no session", func(t *testing.T) {
		// The page's origin must be public_url's, or the token endpoint
		// takes the doctor's same-origin request for another site's.
		addr := testenv.FreeAddr(t)
		p := startProxy(t, baseConfig(t, site.URL, "listen: "+addr+"\npublic_url: http://"+addr+"\ninject:\n  enabled: true\n"), nil)
		jar := filepath.Join(t.TempDir(), "cookies.txt")
		if err := os.WriteFile(jar, []byte("127.0.0.1\tFALSE\t/\tFALSE\t0\t_lcw\tforged\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := doctor("--cookie-file", jar, p.URL+"/")
		if err == nil || !strings.Contains(out, "answers 401 with the cookie given") {
			t.Errorf("doctor: %v\n%s", err, out)
		}
	})

	for _, args := range [][]string{{}, {"ftp://shop.example/"}, {"--cookie", "a=b", "--cookie-file", "f", "https://shop.example/"}, {"--prefix", "_lcw/", "https://shop.example/"}} {
		if _, err := doctor(args...); err == nil || exitCode(err) != 2 {
			t.Errorf("doctor %q: %v, want a usage error (exit status 2)", args, err)
		}
	}
}
