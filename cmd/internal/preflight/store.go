package preflight

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// Store connects to the session store as serve does (session.New: the
// same URL or addresses, TLS, user and password) and asks it to answer;
// nothing for the cookie store, which has no server.
func Store(ctx context.Context, s config.Session) []Finding {
	if s.Store != "redis" {
		return nil
	}
	f := Finding{Key: "session.redis"}
	where := config.RedactURL(s.Redis.URL)
	if where == "" {
		where = strings.Join(s.Redis.Addrs, ",")
	}
	codec, err := session.NewCodec(s.Keys)
	if err != nil {
		f.Key, f.Msg, f.Fix = "session.secret", err.Error(), "see check-config's message for session.secret"
		return []Finding{f}
	}
	store, closeStore, err := session.New(s, codec, session.Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		defer closeStore()
		if p, ok := store.(interface{ Ping(context.Context) error }); ok {
			err = p.Ping(ctx)
		}
	}
	if err != nil {
		f.Msg = fmt.Sprintf("Redis at %s does not answer: %s", where, config.RedactURL(err.Error()))
		f.Fix = redisFix(err)
		return []Finding{f}
	}
	f.OK, f.Msg = true, fmt.Sprintf("Redis at %s answers (connected, authenticated, PING)", where)
	return []Finding{f}
}

// redisFix names the likely cause of a Redis failure by what the server or
// the network said.
func redisFix(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "NOAUTH"), strings.Contains(msg, "invalid password"):
		return "check session.redis.username and password (or password_file) against the server's ACL user"
	case strings.Contains(msg, "NOPERM"):
		return "the ACL user lacks a command the store needs: grant the README's list (Sessions in Redis)"
	case strings.Contains(msg, "x509"), strings.Contains(msg, "tls"):
		return "check rediss:// or session.redis.tls against the server, and session.redis.ca_file"
	}
	return "start Redis, or set session.redis.url (or addrs) to where it listens, as seen from the proxy"
}
