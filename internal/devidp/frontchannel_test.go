package devidp

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"testing"
)

// With FrontchannelLogoutURI the discovery document announces front-channel
// logout and the signed-out page frames the client's URL with iss and sid
// (sid alone as Entra ID sends it); without it, neither.
func TestFrontchannelSignedOutPage(t *testing.T) {
	const uri = "http://127.0.0.1:4180/_lcw/frontchannel-logout"
	src := regexp.MustCompile(`<iframe id="frontchannel"[^>]* src="([^"]*)"`)
	for _, tt := range []struct {
		name    string
		opts    Options
		wantIss bool
	}{
		{"spec", Options{FrontchannelLogoutURI: uri}, true},
		{"entra", Options{FrontchannelLogoutURI: uri, FrontchannelSIDOnly: true}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Stop)
			var doc struct {
				Supported bool `json:"frontchannel_logout_supported"`
				Session   bool `json:"frontchannel_logout_session_supported"`
			}
			getJSON(t, p.DiscoveryURL(), &doc)
			if !doc.Supported || !doc.Session {
				t.Errorf("discovery: %+v, want both true", doc)
			}
			body := get(t, p.Issuer+FrontchannelSignedOutPath+"?sid=s%26x", http.StatusOK)
			m := src.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no iframe in\n%s", body)
			}
			u, err := url.Parse(html.UnescapeString(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if u.Scheme+"://"+u.Host+u.Path != uri || q.Get("sid") != "s&x" || q.Has("iss") != tt.wantIss || (tt.wantIss && q.Get("iss") != p.Issuer) {
				t.Errorf("framed %s", u)
			}
			get(t, p.Issuer+FrontchannelSignedOutPath, http.StatusBadRequest)
		})
	}
	p, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	var doc map[string]any
	getJSON(t, p.DiscoveryURL(), &doc)
	if _, ok := doc["frontchannel_logout_supported"]; ok {
		t.Errorf("announced without FrontchannelLogoutURI: %v", doc["frontchannel_logout_supported"])
	}
	get(t, p.Issuer+FrontchannelSignedOutPath+"?sid=x", http.StatusNotFound)
}

func get(t *testing.T, u string, want int) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", u, resp.StatusCode, want, b)
	}
	return string(b)
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(get(t, u, http.StatusOK)), v); err != nil {
		t.Fatal(err)
	}
}
