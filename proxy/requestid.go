package proxy

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
)

// RequestIDHeader carries a request's id: taken from a trusted proxy,
// otherwise made here; sent to the upstream, echoed to the client and
// written in the access log, so one request can be found in every log it
// crossed.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an id a trusted proxy sends (a UUID is 36, an
// Envoy or nginx id 32 or 36; AWS's trace ids under 100).
const maxRequestIDLen = 128

// requestID is the request's id as a header value: the trusted proxy's when
// it sent exactly one that is valid (validRequestID), a new one otherwise,
// held in own (the request's record: the header's slice then costs no
// allocation of its own).
// An untrusted client's is always replaced: it could otherwise pick ids
// that collide with other requests' in the logs, or fill them with junk.
func requestID(r *http.Request, trustedPeer bool, own *[1]string) []string {
	if trustedPeer {
		if v := r.Header[RequestIDHeader]; len(v) == 1 && validRequestID(v[0]) {
			return v
		}
	}
	own[0] = newRequestID()
	return own[:]
}

// validRequestID allows what request ids are made of (UUIDs, hex, base64,
// ULIDs): 1 to maxRequestIDLen characters of letters, digits and
// -_.:/+=@. Nothing that could break a log line, a header or a log query.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=', c == '@':
		default:
			return false
		}
	}
	return true
}

// newRequestID is 128 random bits in hex, as a W3C trace id is written.
// math/rand/v2's generator (ChaCha8, seeded per thread by the runtime) is
// enough: the id must be unique, not secret, and it costs no system call.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var h [32]byte
	hex.Encode(h[:], b[:])
	return string(h[:]) // one allocation, where EncodeToString makes two
}
