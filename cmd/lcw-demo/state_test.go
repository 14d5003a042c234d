package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

var issuerLine = regexp.MustCompile(`development identity provider at (http://127\.0\.0\.1:\d+)`)

// sessionContexts signs the VIP in through the demo and returns the
// lwicontexts {prefix}/session says the next token carries.
func sessionContexts(t *testing.T, d *demo) map[string]any {
	t.Helper()
	c := testenv.NewBrowserClient(t)
	testenv.Login(t, c, d.URL+prefix+"/login?rd=/", devidp.VIPUsername, devidp.VIPPassword)
	resp := testenv.Do(t, c, http.MethodGet, d.URL+prefix+"/session", map[string]string{"Sec-Fetch-Site": "same-origin"})
	defer resp.Body.Close()
	var s struct {
		LWIContexts map[string]any `json:"lwicontexts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s/session: %d %v", prefix, resp.StatusCode, err)
	}
	return s.LWIContexts
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// With --state the demo comes back where it was: same URLs, the user's
// edits of config.yaml in force; a taken port moves only what must move.
func TestStateKeepsPortsAndEdits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	cfgPath := filepath.Join(dir, configFile)

	first := launchDemo(t, "--state", dir)
	issuer := issuerLine.FindStringSubmatch(first.Stdout.String())[1]
	if err := first.stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	written := readFile(t, cfgPath)
	edited := strings.Replace(written, "region:          { value: EU }", "region:          { value: Mars }", 1)
	if edited == written {
		t.Fatalf("config.yaml has no region line to edit:\n%s", written)
	}
	writeFile(t, cfgPath, edited)

	t.Run("same ports, edits kept", func(t *testing.T) {
		d := startDemo(t, "--state", dir)
		if d.URL != first.URL || issuerLine.FindStringSubmatch(d.Stdout.String())[1] != issuer {
			t.Errorf("second start at %s with IdP %s, want %s with IdP %s", d.URL, issuerLine.FindStringSubmatch(d.Stdout.String())[1], first.URL, issuer)
		}
		if got := readFile(t, cfgPath); got != edited {
			t.Errorf("config.yaml changed on the second start:\n%s", got)
		}
		if strings.Contains(d.Stdout.String(), "Note:") {
			t.Errorf("notes on an unchanged start:\n%s", d.Stdout)
		}
		if got := sessionContexts(t, d)["region"]; got != "Mars" {
			t.Errorf("lwicontexts region = %v, want the edited Mars", got)
		}
	})

	t.Run("a taken port falls back and says so", func(t *testing.T) {
		taken, err := net.Listen("tcp", strings.TrimPrefix(issuer, "http://"))
		if err != nil {
			t.Fatalf("occupy the IdP's port: %v", err)
		}
		defer taken.Close()
		d := startDemo(t, "--state", dir)
		newIssuer := issuerLine.FindStringSubmatch(d.Stdout.String())[1]
		if newIssuer == issuer {
			t.Fatalf("the IdP still claims the taken port %s", issuer)
		}
		for _, want := range []string{
			"Note:        the idp's port " + strings.TrimPrefix(issuer, "http://") + " (remembered in demo-state.json) is taken by another program; using a new one",
			"Note:        config.yaml: updated oidc.issuer: \"" + issuer + "\" → \"" + newIssuer + "\"",
		} {
			if !strings.Contains(d.Stdout.String(), want) {
				t.Errorf("welcome text lacks %q:\n%s", want, d.Stdout)
			}
		}
		got := readFile(t, cfgPath)
		if !strings.Contains(got, "issuer: "+newIssuer+"  # managed by lcw-demo") || !strings.Contains(got, "Mars") {
			t.Errorf("config.yaml should have the new issuer and still the edit:\n%s", got)
		}
		if got := sessionContexts(t, d)["region"]; got != "Mars" {
			t.Errorf("lwicontexts region = %v after the fallback, want Mars", got)
		}
	})

	t.Run("a managed key changed by hand is refused", func(t *testing.T) {
		text := readFile(t, cfgPath)
		writeFile(t, cfgPath, regexp.MustCompile(`(?m)^  url: .*$`).ReplaceAllString(text, "  url: http://127.0.0.1:1"))
		var stdout bytes.Buffer
		err := run(t.Context(), []string{"--listen", "127.0.0.1:0", "--state", dir}, func(string) string { return "" }, &stdout, &bytes.Buffer{})
		if err == nil {
			t.Fatal("the demo started with a hand-edited upstream.url")
		}
		for _, want := range []string{`upstream.url was changed by hand to "http://127.0.0.1:1"`, "undo the change, or delete config.yaml", "lcw-auth-proxy init"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	})
}
