package devidp

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
)

//go:embed login.html
var loginHTML string

// loginTemplate renders the login page; it is parsed once and never changed.
var loginTemplate = template.Must(template.New("login").Parse(loginHTML))

// loginPage is the provider's user interface: the protocol library leaves
// the login step to the application. It lists every user with their
// password and claims, because the people who see it are trying the product
// out, not signing in to anything real.
type loginPage struct {
	users    []User
	check    func(username, password, authRequestID string) error
	callback func(ctx context.Context, authRequestID string) string
	sso      *ssoSessions // the browser session a sign-in starts
	log      *slog.Logger
}

// loginView is what the template shows.
type loginView struct {
	AuthRequestID string
	Error         string
	Username      string
	Users         []userView
}

// userView is one user card on the login page.
type userView struct {
	Username, Password, Name, Email, Subject string
	Claims                                   []claimView
}

// claimView is one extra claim, its value as JSON.
type claimView struct{ Name, Value string }

// show renders the login form for the authorization request named in the
// authRequestID query parameter (the library redirects here with it).
func (l *loginPage) show(w http.ResponseWriter, r *http.Request) {
	l.render(w, http.StatusOK, loginView{AuthRequestID: r.URL.Query().Get("authRequestID")})
}

// submit checks the credentials and, when they match, sends the browser
// back to the library's callback, which issues the code. Wrong credentials
// show the form again with a message.
func (l *loginPage) submit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot parse the login form", http.StatusBadRequest)
		return
	}
	id, username := r.PostForm.Get("id"), r.PostForm.Get("username")
	if err := l.check(username, r.PostForm.Get("password"), id); err != nil {
		l.render(w, http.StatusOK, loginView{AuthRequestID: id, Username: username, Error: err.Error()})
		return
	}
	if l.sso != nil {
		l.sso.start(w, username)
	}
	http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
}

func (l *loginPage) render(w http.ResponseWriter, status int, v loginView) {
	v.Users = make([]userView, 0, len(l.users))
	for _, u := range l.users {
		v.Users = append(v.Users, newUserView(u))
	}
	var buf bytes.Buffer
	if err := loginTemplate.Execute(&buf, v); err != nil {
		l.log.Error("development OpenID provider: render login page", slog.String("error", err.Error()))
		http.Error(w, "cannot render the login page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the browser went away; nothing to do
}

func newUserView(u User) userView {
	uv := userView{
		Username: u.Username,
		Password: u.Password,
		Name:     strings.TrimSpace(u.FirstName + " " + u.LastName),
		Email:    u.Email,
		Subject:  u.ID,
	}
	if uv.Subject == "" {
		uv.Subject = u.Username
	}
	names := make([]string, 0, len(u.Claims))
	for k := range u.Claims {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		b, err := json.Marshal(u.Claims[k])
		if err != nil {
			b = []byte("(not JSON)")
		}
		uv.Claims = append(uv.Claims, claimView{Name: k, Value: string(b)})
	}
	return uv
}

// loggedOut is where end_session lands when the relying party names no
// post-logout redirect URI.
func loggedOut(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("signed out successfully\n"))
}
