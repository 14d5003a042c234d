package devidp

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// ssoCookie names the provider's own browser session: after a sign-in at
// its login form, later authorization requests of that browser, including
// prompt=none ones, are answered without showing the form again, as every
// real IdP does. That is what relying parties' silent sign-in relies on.
const ssoCookie = "devidp_session"

// ssoSessions maps a browser session cookie to the username signed in.
type ssoSessions struct {
	mu    sync.Mutex
	users map[string]string
}

func (s *ssoSessions) start(w http.ResponseWriter, username string) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	if s.users == nil {
		s.users = map[string]string{}
	}
	s.users[id] = username
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (s *ssoSessions) user(r *http.Request) (string, bool) {
	c, err := r.Cookie(ssoCookie)
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[c.Value]
	return u, ok
}

func (s *ssoSessions) end(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(ssoCookie); err == nil {
		s.mu.Lock()
		delete(s.users, c.Value)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: "", Path: "/", MaxAge: -1})
}

// withSSO lets a browser with a provider session through authorization
// without the login form: the request goes to the library as usual (minus
// prompt=none, which the example storage always refuses), and where the
// library would send the browser to the login form, the session's user is
// signed in and the browser goes straight back with a code. Without a
// session, prompt=none gets the library's login_required. End session also
// ends the provider's browser session.
func withSSO(next http.Handler, sso *ssoSessions, login *loginPage, passwordOf func(string) (string, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case endSessionPath:
			sso.end(w, r)
			next.ServeHTTP(w, r)
			return
		case "/authorize":
		default:
			next.ServeHTTP(w, r)
			return
		}
		username, ok := sso.user(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		if q.Get("prompt") == "none" {
			q.Del("prompt")
			r = r.Clone(r.Context())
			r.URL.RawQuery = q.Encode()
			r.RequestURI = r.URL.RequestURI()
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		res := rec.Result()
		loc, _ := url.Parse(res.Header.Get("Location"))
		id := ""
		if loc != nil && strings.HasSuffix(loc.Path, LoginPath) {
			id = loc.Query().Get("authRequestID")
		}
		password, known := passwordOf(username)
		if id == "" || !known || login.check(username, password, id) != nil {
			for k, v := range res.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(res.StatusCode)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		http.Redirect(w, r, login.callback(r.Context(), id), http.StatusFound)
	})
}
