// Command sessioncookie prints a Cookie header value carrying a valid
// lcw-auth-proxy session, sealed with the given secret the same way the proxy
// seals one after a login (it goes through auth/session's Store). bench/run.sh
// sends it to measure signed-in requests.
//
//	sessioncookie -secret "$(openssl rand -base64 32)" -name _lcw -sub user1
//	sessioncookie -secret … -redis redis://127.0.0.1:6379   (session.store: redis)
//
// The session carries about ten claims and an ID token of realistic size, as
// a real login against a typical IdP would leave, so the per-request cost of
// opening it is representative.
package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sessioncookie:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sessioncookie", flag.ContinueOnError)
	secret := fs.String("secret", "", "session.secret: 32 random bytes, base64 (required)")
	name := fs.String("name", "_lcw", "session.cookie_name")
	sub := fs.String("sub", "user1", "subject of the session")
	path := fs.String("path", "/", "session.cookie_path")
	lifetime := fs.Duration("lifetime", 12*time.Hour, "session.lifetime")
	redisURL := fs.String("redis", "", "session.redis.url: store the session in Redis (the cookie is then its ticket)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("-secret is required (the proxy's session.secret)")
	}
	key, err := decodeKey(*secret)
	if err != nil {
		return fmt.Errorf("-secret: %w", err)
	}
	v, err := cookieHeader(key, *name, *path, *sub, *redisURL, *lifetime, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, v)
	return err
}

// cookieHeader saves a session through the proxy's own Store and turns the
// Set-Cookie headers it writes into one Cookie header value (a large session
// may be split into several cookies).
func cookieHeader(key []byte, name, path, sub, redisURL string, lifetime time.Duration, now time.Time) (string, error) {
	codec, err := session.NewCodec([][]byte{key})
	if err != nil {
		return "", fmt.Errorf("session codec: %w", err)
	}
	cookie := session.CookieOptions{Name: name, Path: path, Secure: false, Lifetime: lifetime}
	var store session.Store = session.NewCookieStore(codec, cookie)
	if redisURL != "" {
		def := config.Default().Session.Redis
		def.URL = redisURL
		client, err := session.NewRedisClient(def)
		if err != nil {
			return "", err
		}
		defer client.Close()
		store = session.NewRedisStore(codec, [][]byte{key}, session.RedisOptions{
			Cookie: cookie, Client: client, KeyPrefix: def.KeyPrefix, Timeout: def.Timeout.D(),
		})
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	if err := store.Save(rec, req, newSession(sub, lifetime, now)); err != nil {
		return "", fmt.Errorf("save session: %w", err)
	}
	var parts []string
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			continue // a deletion of a stale chunk, not part of the session
		}
		parts = append(parts, c.Name+"="+c.Value)
	}
	if len(parts) == 0 {
		return "", errors.New("the session store set no cookie")
	}
	return strings.Join(parts, "; "), nil
}

// newSession is what a login against a typical IdP leaves: the standard
// profile claims, groups, and the raw ID token kept for RP-initiated logout.
func newSession(sub string, lifetime time.Duration, now time.Time) *session.Session {
	return &session.Session{
		Subject:   sub,
		CreatedAt: now,
		Expiry:    now.Add(lifetime),
		IDToken:   fakeIDToken(),
		Claims: map[string]any{
			"sub":                sub,
			"iss":                "https://login.example.com/realms/shop",
			"email":              sub + "@example.com",
			"email_verified":     true,
			"name":               "Bench User",
			"given_name":         "Bench",
			"family_name":        "User",
			"preferred_username": sub,
			"locale":             "en-GB",
			"groups":             []any{"customers", "newsletter"},
		},
	}
}

// fakeIDToken has the shape and size (about 1 KB) of a real RS256 ID token;
// nothing verifies it on the request path, it only makes the cookie as large
// as a real one.
func fakeIDToken() string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"bench"}`))
	payload := enc.EncodeToString([]byte(`{"iss":"https://login.example.com/realms/shop","aud":"lcw-auth-proxy",` +
		`"sub":"user1","email":"user1@example.com","name":"Bench User","nonce":"` + strings.Repeat("n", 43) + `",` +
		`"iat":1700000000,"exp":1700000300,"auth_time":1700000000,"sid":"` + strings.Repeat("s", 36) + `"}`))
	sig := enc.EncodeToString(make([]byte, 256))
	return header + "." + payload + "." + sig
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(strings.TrimSpace(s)); err == nil {
			if len(k) != session.KeySize {
				return nil, fmt.Errorf("decodes to %d bytes, not %d", len(k), session.KeySize)
			}
			return k, nil
		}
	}
	return nil, errors.New("is not base64")
}
