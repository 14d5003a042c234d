package bootstrap

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
)

// maxEventBody bounds a client event; {"code":8} is ten bytes.
const maxEventBody = 1 << 10

// eventReadTimeout bounds reading a client event, whatever
// server.read_timeout allows uploads elsewhere: ten bytes need no more, and
// anyone who can load a page may post here, so a body trickled byte by byte
// must not hold the connection.
const eventReadTimeout = 5 * time.Second

// knownCodes are the widget's documented lcw:error codes. Anything else is
// counted as "other" so a client cannot create metric labels at will.
var knownCodes = map[int]string{1: "1", 2: "2", 3: "3", 4: "4", 7: "7", 8: "8"}

// eventClockSkew is the one event kind besides lcw:error codes: the
// browser's clock runs ahead of the server's by more than the script
// tolerates. It has its own counter and no labels.
const eventClockSkew = "clock_skew"

// ClientEventsHandler serves POST {prefix}/client-events: the script
// reports the widget's lcw:error codes as {"code": N}, and a browser clock
// that runs ahead as {"event": "clock_skew", "seconds": N}, as JSON or, from
// navigator.sendBeacon, as text/plain. Same-origin only; answers 204.
func (b *Bootstrap) ClientEventsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// First, so it also bounds the server draining a body this handler
		// refuses to read. Writers that cannot set deadlines (test
		// recorders) have no connection to protect.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(eventReadTimeout))
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !request.SameOrigin(r, b.opt.PublicOrigin) {
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || (mt != "application/json" && mt != "text/plain") {
				http.Error(w, "send application/json or text/plain", http.StatusUnsupportedMediaType)
				return
			}
		}
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				http.Error(w, "event too large", http.StatusRequestEntityTooLarge)
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				http.Error(w, "event body too slow", http.StatusRequestTimeout)
				return
			}
			http.Error(w, "read event", http.StatusBadRequest)
			return
		}
		var ev struct {
			Code    *float64 `json:"code"`
			Event   *string  `json:"event"`
			Seconds *float64 `json:"seconds"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil || (ev.Code == nil) == (ev.Event == nil) {
			http.Error(w, `want {"code": N} or {"event": "clock_skew", "seconds": N}`, http.StatusBadRequest)
			return
		}
		if ev.Event != nil {
			// Known kinds only, so a client cannot invent series; the
			// seconds are checked for shape, not trusted for anything.
			if *ev.Event != eventClockSkew || ev.Seconds == nil {
				http.Error(w, `unknown event; want {"event": "clock_skew", "seconds": N}`, http.StatusBadRequest)
				return
			}
			if b.opt.Metrics != nil {
				b.opt.Metrics.ClientClockSkew.Inc()
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		label := "other"
		if c := *ev.Code; c >= 0 && c <= 100 && c == float64(int(c)) {
			if l, ok := knownCodes[int(c)]; ok {
				label = l
			}
		}
		if b.opt.Metrics != nil {
			b.opt.Metrics.ClientEvents.WithLabelValues(label).Inc()
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
