package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestACSChatAnswersAsACS checks the ACS stand-in's contract with the chat
// client: only the chat token issued with a thread opens it, only the
// documented api-version is answered, messages list newest first and what
// the visitor sends is recorded.
func TestACSChatAnswersAsACS(t *testing.T) {
	const origin = "http://page.example"
	a := startACSChat(t, origin)
	token := acsToken(time.Hour)
	a.newThread("19:t@thread.v2", token)
	pool := x509.NewCertPool()
	pool.AddCert(a.Certificate())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}

	call := func(method, path, version, bearer, body string) (int, map[string]any) {
		t.Helper()
		u := a.URL + "/chat/threads/" + url.PathEscape("19:t@thread.v2") + path + "?api-version=" + version
		req, err := http.NewRequest(method, u, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	for _, c := range []struct {
		name, method, path, version, bearer string
		want                                int
	}{
		{"the thread's token lists its messages", "GET", "/messages", acsAPIVersion, token, http.StatusOK},
		{"another token is refused", "GET", "/messages", acsAPIVersion, acsToken(time.Hour) + "x", http.StatusUnauthorized},
		{"no token is refused", "GET", "/participants", acsAPIVersion, "", http.StatusUnauthorized},
		{"another api-version is refused", "GET", "/messages", "2021-09-07", token, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, _ := call(c.method, c.path, c.version, c.bearer, ""); got != c.want {
				t.Errorf("%s %s: %d, want %d", c.method, c.path, got, c.want)
			}
		})
	}

	t.Run("a sent message is recorded and listed after the agent's older one", func(t *testing.T) {
		a.PostAgentMessage("hello, how can I help?")
		if got, out := call("POST", "/messages", acsAPIVersion, token, `{"content":"my order","senderDisplayName":"Vera","type":"text"}`); got != http.StatusCreated || out["id"] == "" {
			t.Fatalf("send: %d %v", got, out)
		}
		_, out := call("GET", "/messages", acsAPIVersion, token, "")
		value, _ := out["value"].([]any)
		var texts []string
		for _, v := range value {
			m := v.(map[string]any)
			texts = append(texts, m["content"].(map[string]any)["message"].(string))
		}
		if strings.Join(texts, "|") != "my order|hello, how can I help?" {
			t.Errorf("messages, newest first: %q", texts)
		}
		if l := a.Log(); len(l.Sent) != 1 || l.Sent[0] != "my order" || l.Unauthorized != 2 {
			t.Errorf("log: %+v", l)
		}
	})
}
