package errorpage

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
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
