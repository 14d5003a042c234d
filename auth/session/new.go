package session

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// Options are what New takes besides the session section and the codec.
type Options struct {
	// Observe, when set, is told each Redis operation's name, duration
	// and error (metrics). The cookie store has no operations to tell.
	Observe func(op string, d time.Duration, err error)
	// Tracer, when set, makes a client span of each Redis operation. Nil:
	// tracing off.
	Tracer trace.TracerProvider
	// Logger hears of what the operator should know (Redis refusing the
	// client-side cache). Nil: slog.Default().
	Logger *slog.Logger
	// CacheRefused, when set, is called when Redis refuses client-side
	// caching and the store goes on without it (metrics).
	CacheRefused func()
	// LogoutPath is the logout endpoint (config.Paths.Logout): the cookie
	// store keeps the ID token in a cookie sent there only. Empty: it
	// keeps none (the Redis store keeps it in the record either way).
	LogoutPath string
}

// New builds the store session.store names from the validated session
// section: the cookie store, or the Redis store with its client. The func
// closes the client (it does nothing for the cookie store); call it once
// the store is no longer used. The Redis client connects on first use, so New
// succeeds while Redis is down.
//
// Callers that need more than Store (the refresh lock, ending sessions by
// subject, readiness…) declare the small interface they use and assert
// it: only the Redis store offers those.
func New(cfg config.Session, codec *Codec, o Options) (Store, func(), error) {
	cookie := CookieOptions{
		Name: cfg.Name, Domain: cfg.CookieDomain, Path: cfg.CookiePath, Secure: cfg.Secure, Lifetime: cfg.Lifetime.D(),
		LogoutPath: o.LogoutPath,
	}
	if cfg.Store != "redis" {
		return NewCookieStore(codec, cookie), func() {}, nil
	}
	client, err := NewRedisClient(cfg.Redis)
	if err != nil {
		return nil, nil, err
	}
	if o.Logger != nil {
		client.log = o.Logger
	}
	client.cacheRefused = o.CacheRefused
	return NewRedisStore(codec, cfg.Keys, RedisOptions{
		Cookie: cookie, Client: client, KeyPrefix: cfg.Redis.KeyPrefix,
		Timeout: cfg.Redis.Timeout.D(), CacheTTL: cfg.Redis.CacheTTL.D(),
		Observe: o.Observe, Tracer: o.Tracer,
	}), client.Close, nil
}
