package bootstrap

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestClientEvents(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		header     map[string]string
		body       string
		wantStatus int
		wantLabel  string // counted label, "" for none
	}{
		{"json code 2", "POST", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "Origin": "https://shop.example"}, `{"code":2}`, 204, "2"},
		{"sendBeacon text/plain", "POST", map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, `{"code":8}`, 204, "8"},
		{"no content type", "POST", nil, `{"code":3}`, 204, "3"},
		{"code 4", "POST", nil, `{"code":4}`, 204, "4"},
		{"code 1 known", "POST", nil, `{"code":1}`, 204, "1"},
		{"code 7 known", "POST", nil, `{"code":7}`, 204, "7"},
		{"unknown code is other", "POST", nil, `{"code":99}`, 204, "other"},
		{"fractional code is other", "POST", nil, `{"code":2.5}`, 204, "other"},
		{"huge code is other", "POST", nil, `{"code":1e300}`, 204, "other"},
		{"GET refused", "GET", nil, "", 405, ""},
		{"PUT refused", "PUT", nil, `{"code":2}`, 405, ""},
		{"cross-site fetch", "POST", map[string]string{"Sec-Fetch-Site": "cross-site"}, `{"code":2}`, 403, ""},
		{"same-site is not same-origin", "POST", map[string]string{"Sec-Fetch-Site": "same-site"}, `{"code":2}`, 403, ""},
		{"foreign Origin", "POST", map[string]string{"Origin": "https://evil.example"}, `{"code":2}`, 403, ""},
		{"null Origin", "POST", map[string]string{"Origin": "null"}, `{"code":2}`, 403, ""},
		{"origin with other scheme", "POST", map[string]string{"Origin": "http://shop.example"}, `{"code":2}`, 403, ""},
		{"form post content type", "POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, `{"code":2}`, 415, ""},
		{"oversized body", "POST", nil, `{"code":2,"pad":"` + strings.Repeat("a", 2000) + `"}`, 413, ""},
		{"bad JSON", "POST", nil, `{"code":`, 400, ""},
		{"code missing", "POST", nil, `{"other":2}`, 400, ""},
		{"code is a string", "POST", nil, `{"code":"2"}`, 400, ""},
		{"empty body", "POST", nil, ``, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, m := newTest(t, nil)
			r := httptest.NewRequest(tc.method, "/_lcw/client-events", strings.NewReader(tc.body))
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			b.ClientEventsHandler().ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tc.wantStatus, w.Body)
			}
			total := testutil.CollectAndCount(m.ClientEvents)
			if tc.wantLabel == "" {
				if total != 0 {
					t.Errorf("refused request was counted (%d series)", total)
				}
				return
			}
			if got := testutil.ToFloat64(m.ClientEvents.WithLabelValues(tc.wantLabel)); got != 1 {
				t.Errorf("client_events{code=%q} = %v, want 1", tc.wantLabel, got)
			}
		})
	}
}

// TestClientEventLabelsBounded: an attacker posting every number cannot
// create more series than the known codes plus "other".
func TestClientEventLabelsBounded(t *testing.T) {
	b, m := newTest(t, nil)
	h := b.ClientEventsHandler()
	for i := -50; i < 1000; i++ {
		r := httptest.NewRequest("POST", "/_lcw/client-events", strings.NewReader(fmt.Sprintf(`{"code":%d}`, i)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			t.Fatalf("code %d: status %d", i, w.Code)
		}
	}
	if n := testutil.CollectAndCount(m.ClientEvents); n != 7 {
		t.Errorf("%d label series, want 7 (1,2,3,4,7,8,other)", n)
	}
	if got := testutil.ToFloat64(m.ClientEvents.WithLabelValues("other")); got != 1050-6 {
		t.Errorf("other = %v", got)
	}
}

// TestClockSkewEvent: the one event kind besides lcw:error codes has its
// own counter; anything else shaped like an event is refused, so a client
// cannot make up kinds.
func TestClockSkewEvent(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantSkew   float64
	}{
		{"clock skew counted", `{"event":"clock_skew","seconds":93}`, 204, 1},
		{"unknown event", `{"event":"clock_behind","seconds":93}`, 400, 0},
		{"seconds missing", `{"event":"clock_skew"}`, 400, 0},
		{"seconds not a number", `{"event":"clock_skew","seconds":"93"}`, 400, 0},
		{"event and code at once", `{"event":"clock_skew","seconds":93,"code":2}`, 400, 0},
		{"event not a string", `{"event":1,"seconds":93}`, 400, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, m := newTest(t, nil)
			r := httptest.NewRequest("POST", "/_lcw/client-events", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			w := httptest.NewRecorder()
			b.ClientEventsHandler().ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tc.wantStatus, w.Body)
			}
			if got := testutil.ToFloat64(m.ClientClockSkew); got != tc.wantSkew {
				t.Errorf("client_clock_skew_total = %v, want %v", got, tc.wantSkew)
			}
			if n := testutil.CollectAndCount(m.ClientEvents); n != 0 {
				t.Errorf("an event was counted as an lcw:error code (%d series)", n)
			}
		})
	}
}
