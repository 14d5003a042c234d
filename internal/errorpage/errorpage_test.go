package errorpage

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Whatever a message holds, the JSON error body is valid JSON that decodes
// back to it (invalid UTF-8 as U+FFFD), with the status where Write puts it.
func TestJSONBodyIsValidJSON(t *testing.T) {
	msgs := []string{
		`say "no"`,
		`C:\path\to`,
		"line\u2028separator\u2029paragraph",
		"bell\x07 nul\x00 esc\x1b newline\n tab\t",
		"invalid \xff\xfe utf-8",
		"<script>&amp;</script>",
		"",
	}
	for _, msg := range msgs {
		w := httptest.NewRecorder()
		Write(w, JSON, http.StatusBadRequest, msg)
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%q: Content-Type %q", msg, ct)
		}
		body := w.Body.Bytes()
		if !json.Valid(body) || !utf8.Valid(body) {
			t.Errorf("%q: body is not valid JSON: %q", msg, body)
			continue
		}
		var got struct {
			Error  string `json:"error"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		want := msg
		if !utf8.ValidString(msg) {
			want = string([]rune(msg)) // invalid bytes become U+FFFD
		}
		if got.Error != want || got.Status != http.StatusBadRequest {
			t.Errorf("%q: decoded %+v", msg, got)
		}
		for _, c := range body {
			if c < 0x20 && c != '\n' {
				t.Errorf("%q: raw control byte %#x in %q", msg, c, body)
			}
		}
	}
}

// The shape without "status", for endpoints whose contract has only "error".
func TestWriteJSONWithoutStatus(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, http.StatusBadRequest, JSONError{Error: "invalid_request"})
	if w.Code != http.StatusBadRequest || w.Body.String() != `{"error":"invalid_request"}`+"\n" {
		t.Fatalf("%d %q", w.Code, w.Body.String())
	}
}

// A 503 for a passing outage says when to come back; a page asked for with
// GET reloads itself then, while a POST (a form that must not be sent twice)
// and a script's JSON answer never repeat by themselves.
func TestUnavailableRetriesOnlyIdempotentPages(t *testing.T) {
	for _, tc := range []struct {
		method, accept string
		refresh        bool
	}{
		{http.MethodGet, "text/html", true},
		{http.MethodPost, "text/html", false},
		{http.MethodGet, "application/json", false},
	} {
		r := httptest.NewRequest(tc.method, "/_lcw/login?rd=/", nil)
		r.Header.Set("Accept", tc.accept)
		w := httptest.NewRecorder()
		Unavailable(w, r, 4500*time.Millisecond, "Sign-in <is> unavailable")
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" {
			t.Errorf("%s %s: %d Retry-After %q, want 503 and 5", tc.method, tc.accept, w.Code, w.Header().Get("Retry-After"))
		}
		body := w.Body.String()
		if got := strings.Contains(body, `<meta http-equiv="refresh" content="5">`); got != tc.refresh {
			t.Errorf("%s %s: reloads itself %v, want %v:\n%s", tc.method, tc.accept, got, tc.refresh, body)
		}
		if strings.Contains(body, "<is>") {
			t.Errorf("%s %s: message not escaped: %s", tc.method, tc.accept, body)
		}
	}
}
