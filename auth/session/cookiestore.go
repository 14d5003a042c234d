package session

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// ErrTooLarge means a session does not fit in maxChunks cookies.
var ErrTooLarge = errors.New("session: too large for the cookie chunks")

const (
	// chunkSize is the most sealed characters one cookie carries. Browsers
	// keep a cookie whose name and value together are at most 4096 bytes;
	// the longest name session.cookie_name allows (with __Host- and a
	// chunk suffix), '=' and the first chunk's count fit in what is left,
	// so an Entra-sized session (60 group ids) is one cookie.
	chunkSize = 4096 - (len("__Host-") + config.MaxCookieNameLen + len("_7")) - len("=") - len("8.") - 16
	// maxChunks bounds the cookies of one session, written and read.
	maxChunks = 8
	// maxStale is the highest chunk index Save and Clear look for when
	// expiring leftovers.
	maxStale = 63
)

// CookieOptions says how the session cookie is named and scoped; config
// provisions every field (session.cookie_*, session.lifetime).
type CookieOptions struct {
	Name     string        // cookie name and prefix of its chunks
	Domain   string        // empty: host-only cookie
	Path     string        // where the browser sends it, usually "/"
	Secure   bool          // send only over HTTPS
	Lifetime time.Duration // session length when Save gets no Expiry
	// LogoutPath is the logout endpoint, where the logout cookie (the ID
	// token, for id_token_hint) is sent; empty: the cookie store keeps no
	// ID token.
	LogoutPath string
}

// CookieStore keeps sessions in cookies, with a Codec.
//
// The session cookie holds the session without its ID token, in format 2
// (encoding.go): only the claims the configuration reads, compressed when
// that is shorter. The ID token, which only logout needs, is in the logout
// cookie (logoutcookie.go), which the browser sends to LogoutPath only.
//
// Cookie layout: NAME holds "<n>.<first part>", where n (1..8) is the number
// of cookies the sealed value was split into, and NAME_1 … NAME_<n-1> hold
// the other parts in order. Every name stays in the NAME / NAME_* namespace
// that the proxy strips before forwarding requests upstream; only NAME and
// NAME_<digits> are used, so other NAME_<word> cookies are left alone.
type CookieStore struct {
	codec *Codec
	opts  CookieOptions
	cache *cache
	now   func() time.Time
}

// NewCookieStore returns a CookieStore that seals with c and writes cookies as opts says.
func NewCookieStore(c *Codec, opts CookieOptions) *CookieStore {
	return &CookieStore{codec: c, opts: opts, cache: newCache(defaultCacheBytes), now: time.Now}
}

// Load returns the request's session. It returns ErrNoSession when there is
// no session cookie and an error wrapping ErrInvalid (ErrExpired for an
// expired one) when the cookies do not hold an authentic, unexpired session.
//
// Load runs on every proxied request, so recently seen cookie values are
// remembered after they have been authenticated once; expiry is still checked
// on every call. The returned Session is a copy, but its Claims map is shared
// with other requests of the same user and must not be modified.
func (s *CookieStore) Load(r *http.Request) (*Session, error) {
	j := s.scan(r)
	if j.first == "" {
		return nil, ErrNoSession
	}
	if j.twice {
		return nil, fmt.Errorf("load session cookie %s: %w", s.opts.Name, ErrDuplicate)
	}
	value, err := j.assemble()
	if err != nil {
		return nil, fmt.Errorf("load session cookie %s: %w", s.opts.Name, err)
	}
	now := s.now()
	sess, ok := s.cache.get(value, now)
	if !ok {
		if sess, err = s.decode(value, now); err != nil {
			return nil, fmt.Errorf("load session cookie %s: %w", s.opts.Name, err)
		}
		s.cache.put(value, sess)
	}
	cp := *sess
	if cp.IDToken == "" && s.opts.LogoutPath != "" && r.URL.Path == s.opts.LogoutPath {
		cp.IDToken = s.logoutIDToken(r, &cp, now)
	}
	return &cp, nil
}

// Twice implements Store.
func (s *CookieStore) Twice(r *http.Request) bool { return s.scan(r).twice }

// decode authenticates value and parses the session it holds.
func (s *CookieStore) decode(value string, now time.Time) (*Session, error) {
	plain, expiry, err := s.codec.open(s.opts.Name, value)
	if err != nil {
		return nil, err
	}
	if !now.Before(expiry) {
		return nil, ErrExpired
	}
	sess, err := decodeSession(plain)
	if err != nil || sess.Subject == "" {
		// Authentic but unreadable: sealed by an incompatible version.
		return nil, ErrInvalid
	}
	if !sess.Expiry.Equal(expiry) {
		return nil, ErrInvalid // Save seals the session's own expiry
	}
	return sess, nil
}

var _ Store = (*CookieStore)(nil)

// Save seals sess into the response's cookies and expires any chunk cookies
// of an earlier, longer session that r carried, so stale chunks never pile
// up. A zero Expiry becomes now + Lifetime and a zero CreatedAt becomes now;
// both are written back into sess so it matches what was stored.
func (s *CookieStore) Save(w http.ResponseWriter, r *http.Request, sess *Session) error {
	if sess == nil || sess.Subject == "" {
		return errors.New("save session: a session needs a subject")
	}
	if err := (&http.Cookie{Name: chunkName(s.opts.Name, maxChunks-1), Value: "1"}).Valid(); err != nil {
		// net/http would silently drop the Set-Cookie header.
		return fmt.Errorf("save session: cookie name %q: %w", s.opts.Name, err)
	}
	now := s.now()
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now
	}
	if sess.Expiry.IsZero() {
		sess.Expiry = now.Add(s.opts.Lifetime)
	}
	// Whole seconds, as sealed, so Load returns exactly what was saved.
	sess.Expiry = sess.Expiry.Truncate(time.Second)
	if !now.Before(sess.Expiry) {
		return fmt.Errorf("save session: expiry %s is not in the future", sess.Expiry.Format(time.RFC3339))
	}
	data, err := encodeSession(sess, false)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	value, err := s.codec.Seal(s.opts.Name, data, sess.Expiry)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	n := (len(value) + chunkSize - 1) / chunkSize
	if n > maxChunks {
		return fmt.Errorf("save session: %d bytes sealed need %d cookies, limit %d: %w",
			len(value), n, maxChunks, ErrTooLarge)
	}
	maxAge := int((sess.Expiry.Sub(now) + time.Second - 1) / time.Second)
	for i := range n {
		part := value[i*chunkSize : min((i+1)*chunkSize, len(value))]
		name := s.opts.Name
		if i == 0 {
			part = strconv.Itoa(n) + "." + part
		} else {
			name = chunkName(s.opts.Name, i)
		}
		s.setCookie(w, name, part, maxAge)
	}
	j := s.scan(r)
	for k := n; k <= maxStale; k++ {
		if j.present&(1<<k) != 0 {
			s.setCookie(w, chunkName(s.opts.Name, k), "", -1)
		}
	}
	// Without an ID token (a refresh whose answer had none) the logout
	// cookie already set stays: it is bound to the same session.
	if sess.IDToken != "" && s.opts.LogoutPath != "" {
		s.setLogoutCookie(w, sess, maxAge)
	}
	return nil
}

// Clear expires the session cookie and every chunk cookie r carries. It
// cannot fail: a cookie session has nothing on the server to end.
func (s *CookieStore) Clear(w http.ResponseWriter, r *http.Request) error {
	s.clearCookies(w, r)
	return nil
}

func (s *CookieStore) clearCookies(w http.ResponseWriter, r *http.Request) {
	s.setCookie(w, s.opts.Name, "", -1)
	if s.opts.LogoutPath != "" {
		s.expireLogoutCookie(w) // sent to the logout path only: r cannot tell whether it exists
	}
	j := s.scan(r)
	for k := 1; k <= maxStale; k++ {
		if j.present&(1<<k) != 0 {
			s.setCookie(w, chunkName(s.opts.Name, k), "", -1)
		}
	}
}

func chunkName(base string, i int) string {
	return base + "_" + strconv.Itoa(i)
}

// setCookie adds one Set-Cookie; maxAge < 0 deletes the cookie.
func (s *CookieStore) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	s.writeCookie(w, name, value, s.opts.Path, maxAge)
}

// writeCookie adds one Set-Cookie for path.
func (s *CookieStore) writeCookie(w http.ResponseWriter, name, value, path string, maxAge int) {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		Domain:   s.opts.Domain,
		MaxAge:   maxAge,
		Secure:   s.opts.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if v := c.String(); v != "" {
		w.Header().Add("Set-Cookie", v)
	}
}
