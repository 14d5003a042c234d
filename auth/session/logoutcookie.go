package session

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"net/http"
	"strings"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/cookieheader"
)

// The logout cookie keeps the ID token, which RP-initiated logout sends as
// id_token_hint, out of the per-request session cookie: it is scoped to
// the logout endpoint (CookieOptions.LogoutPath), so the browser sends it
// there only. A __Host- cookie must have Path=/, so it is named with
// __Secure- instead (Secure, Path scoped). Its value is bound to the
// session (subject and creation time): a logout cookie of another session,
// planted or left over, is never taken for this one's.

// logoutCookieName is the session cookie's name without a __Host- or
// __Secure- prefix, + "_logout", with __Secure- when cookies are Secure.
// It stays in the session cookie's namespace, which the proxy strips from
// requests to the upstream.
func logoutCookieName(name string, secure bool) string {
	base, ok := strings.CutPrefix(name, "__Host-")
	if !ok {
		base = strings.TrimPrefix(name, "__Secure-")
	}
	if secure {
		return "__Secure-" + base + "_logout"
	}
	return base + "_logout"
}

const bindingSize = 16

// binding names one session: its subject and creation time, which a
// refresh keeps.
func binding(sess *Session) [bindingSize]byte {
	h := sha256.New()
	h.Write([]byte("lcw-logout-v1\x00"))
	h.Write([]byte(sess.Subject))
	var n [9]byte
	binary.BigEndian.PutUint64(n[1:], uint64(sess.CreatedAt.UnixNano()))
	h.Write(n[:])
	var out [bindingSize]byte
	copy(out[:], h.Sum(nil))
	return out
}

// ID token packing: a compact JWS (header.payload.signature) is kept as its
// three parts base64url-decoded, then compressed with the rest of the
// session's formats (pack): about half the size of the token's text.
// Anything else is kept as it is.
const (
	tokenJWS  byte = 'j'
	tokenText byte = 's'
)

func packIDToken(tok string) []byte {
	if raw, ok := jwsParts(tok); ok {
		if p := pack(raw); unpackIDToken(p) == tok {
			return p
		}
	}
	return pack(append([]byte{tokenText}, tok...))
}

func jwsParts(tok string) ([]byte, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, false
	}
	out := []byte{tokenJWS}
	for i, p := range parts {
		b, err := strictB64.DecodeString(p)
		if err != nil {
			return nil, false
		}
		if i < 2 {
			out = binary.AppendUvarint(out, uint64(len(b)))
		}
		out = append(out, b...)
	}
	return out, true
}

// unpackIDToken undoes packIDToken; "" when p is not one.
func unpackIDToken(p []byte) string {
	raw, err := unpack(p)
	if err != nil || len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case tokenText:
		return string(raw[1:])
	case tokenJWS:
		rest := raw[1:]
		var b strings.Builder
		for range 2 {
			n, k := binary.Uvarint(rest)
			if k <= 0 || n > uint64(len(rest)-k) {
				return ""
			}
			b.WriteString(strictB64.EncodeToString(rest[k : k+int(n)]))
			b.WriteByte('.')
			rest = rest[k+int(n):]
		}
		b.WriteString(strictB64.EncodeToString(rest))
		return b.String()
	}
	return ""
}

// setLogoutCookie writes sess's ID token into the logout cookie, valid as
// long as the session. An ID token too large for one cookie even packed is
// not kept: logout then stays local, as without a session.
func (s *CookieStore) setLogoutCookie(w http.ResponseWriter, sess *Session, maxAge int) {
	b := binding(sess)
	plain := append(b[:], packIDToken(sess.IDToken)...)
	name := logoutCookieName(s.opts.Name, s.opts.Secure)
	value, err := s.codec.Seal(name, plain, sess.Expiry)
	if err != nil || len(value) > chunkSize {
		s.expireLogoutCookie(w)
		return
	}
	s.writeCookie(w, name, value, s.opts.LogoutPath, maxAge)
}

func (s *CookieStore) expireLogoutCookie(w http.ResponseWriter) {
	s.writeCookie(w, logoutCookieName(s.opts.Name, s.opts.Secure), "", s.opts.LogoutPath, -1)
}

// logoutIDToken is the ID token of sess from the logout cookie r carries
// ("" when there is none, or it belongs to another session).
func (s *CookieStore) logoutIDToken(r *http.Request, sess *Session, now time.Time) string {
	name := logoutCookieName(s.opts.Name, s.opts.Secure)
	value := ""
	for _, line := range r.Header["Cookie"] {
		for p := range cookieheader.Pairs(line) {
			if p.Name == name && p.HasValue {
				if value != "" {
					return "" // planted twice: whose is whose cannot be told
				}
				value = p.Value
			}
		}
	}
	if value == "" {
		return ""
	}
	plain, err := s.codec.Open(name, value, now)
	if err != nil || len(plain) < bindingSize {
		return ""
	}
	b := binding(sess)
	if subtle.ConstantTimeCompare(plain[:bindingSize], b[:]) != 1 {
		return ""
	}
	return unpackIDToken(plain[bindingSize:])
}
