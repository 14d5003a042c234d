package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
)

// fakeOK is what a hostile site puts in its values: clear the screen, go
// home, and print a line that looks like one of doctor's.
const fakeOK = "\x1b[2J\x1b[1;1HOK    keys  everything fine\n"

// fakeLine finds fakeOK where a terminal would show it at the start of a
// line.
var fakeLine = regexp.MustCompile("(?m)(^|\u2028|\x1b\\[[0-9;]*H)(\x1b\\[[0-9;]*[A-Za-z])*OK    (keys  everything|token fine)")

// hostileSite is a site that attacks whoever runs doctor on it: every
// value doctor quotes (the widget tag's attributes, the client function,
// key ids, a Location, the CSP header, a token endpoint's answer) carries
// terminal escapes, C1 controls, bidi overrides and line breaks.
func hostileSite(t *testing.T) *httptest.Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kid := fakeOK + "\u009b2J\u202eOK\u2028OK    token fine\x7f"
	multi, _ := json.Marshal([]map[string]string{{"kid": kid, "publicKey": base64.StdEncoding.EncodeToString(keys.PublicKeyPEM(&key.PublicKey))}})
	fn, _ := json.Marshal(map[string][]string{"fn": {"\x1b]0;pwned\x07", fakeOK}})
	page := "<!doctype html><html><head><script src=\"/_lcw/bootstrap.js\" defer></script>" +
		"<script id=\"Microsoft_Omnichannel_LCWidget\" src=\"https://cdn.example/LiveChatBootstrapper.js\"" +
		" data-app-id=\"" + fakeOK + "\" data-org-id=\"\u202e\u2066" + fakeOK + "\" data-org-url=\"https://org.example\"></script></head><body>shop</body></html>"
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		// Go's client refuses a header with C0 controls; C1 (as one byte
		// or as UTF-8), bidi overrides and line separators get through.
		w.Header().Set("Content-Security-Policy", "script-src 'self' https://cdn.example \x9b2J\u202e\u2028")
		io.WriteString(w, page)
	})
	mux.HandleFunc("/_lcw/bootstrap.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprintf(w, "(function(){var cfg = %s; })();", fn)
	})
	mux.HandleFunc("/_lcw/public-key.pem", func(w http.ResponseWriter, r *http.Request) {
		w.Write(keys.PublicKeyPEM(&key.PublicKey))
	})
	mux.HandleFunc("/_lcw/public-keys", func(w http.ResponseWriter, r *http.Request) {
		w.Write(multi)
	})
	mux.HandleFunc("/_lcw/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/login?\x9b2J\u202eOK\u2028OK    keys  everything fine")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/_lcw/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Sec-Fetch-Site") != "same-origin" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		// A token whose kid is not published: the failure lists the
		// published kids.
		seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		tok := seg(`{"alg":"RS256","typ":"JWT","kid":"unpublished"}`) + "." + seg(`{"sub":"x"}`) + "." + seg("sig")
		json.NewEncoder(w).Encode(map[string]string{"token": tok})
	})
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	return site
}

// doctor run on a hostile site prints every value it quotes with its
// control characters escaped: the output holds no byte a terminal acts on,
// each finding stays one line, and no line is a fake OK.
func TestDoctorEscapesWhatTheSiteSays(t *testing.T) {
	site := hostileSite(t)
	var out bytes.Buffer
	err := run(context.Background(), []string{"doctor", "--widget", "--cookie", "_lcw=x", site.URL + "/"}, func(string) string { return "" }, &out, io.Discard)
	if exitCode(err) != 1 {
		t.Fatalf("doctor: %v, want exit status 1 (the site has errors)\n%s", err, out.String())
	}
	text := out.String()
	if !utf8.ValidString(text) {
		t.Errorf("output is not UTF-8:\n%q", text)
	}
	for _, r := range strings.TrimSuffix(text, "\n") {
		if r != '\n' && !strconv.IsGraphic(r) {
			t.Errorf("output holds %U raw:\n%q", r, text)
		}
	}
	// Every line is a finding of doctor's own making (level, area) or
	// the summary; the site's text shows, escaped, inside them.
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	areas := map[string]bool{"keys": true, "page": true, "csp": true, "token": true}
	for _, l := range lines[:len(lines)-1] {
		level, rest, _ := strings.Cut(l, " ")
		area, _, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
		if !map[string]bool{"OK": true, "SKIP": true, "WARN": true, "ERROR": true}[level] || !areas[area] {
			t.Errorf("line %q is not a finding", l)
		}
	}
	// A fake OK would start a line as a terminal shows it: after a line
	// break, a line separator or a cursor move, behind any more escapes.
	if m := fakeLine.FindString(text); m != "" {
		t.Errorf("the site's fake OK starts a line: %q", m)
	}
	if !strings.HasSuffix(lines[len(lines)-1], "warning(s)") {
		t.Errorf("last line %q is not the summary", lines[len(lines)-1])
	}
	for _, want := range []string{
		`app \x1b[2J\x1b[1;1HOK    keys  everything fine\n`, // data-app-id
		`\u202e\u2066\x1b[2J`,                               // data-org-id
		`\x1b]0;pwned\a`,                                    // the client function
		`\u009b2J\u202eOK\u2028OK    token fine\x7f`,        // a kid
		`/login?\x9b2J\u202eOK\u2028OK`,                     // a Location
		`published kids: \x1b[2J`,                           // a token's refusal
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %s:\n%s", want, text)
		}
	}
	// Each fake OK is inside a finding, never at the start of a line.
	if n := strings.Count(text, "OK    keys  everything fine"); n < 4 {
		t.Errorf("the fake OK shows %d times, want it in every finding that quotes it:\n%s", n, text)
	}
}
