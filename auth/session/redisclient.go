package session

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// RedisClient connects to Redis on first use, and again after a failed
// attempt (at most once per retryAfter), so the proxy starts, and serves
// public paths, while Redis is down, and recovers without a restart. Once
// connected, rueidis reconnects by itself.
type RedisClient struct {
	opt rueidis.ClientOption
	c   atomic.Pointer[rueidis.Client]

	mu      sync.Mutex
	lastTry time.Time
	lastErr error

	// cached is false once the server refused client-side caching (or
	// cache_ttl is 0): the store then reads Redis on every request.
	cached atomic.Bool
	// log and cacheRefused hear of a refusal (once per client).
	log          *slog.Logger
	cacheRefused func()
}

const retryAfter = time.Second

// NewRedisClient prepares the connection session.redis describes (a URL for
// one node; addrs for a Cluster, or with master_name for Sentinel).
func NewRedisClient(cfg config.Redis) (*RedisClient, error) {
	var opt rueidis.ClientOption
	if cfg.URL != "" {
		var err error
		if opt, err = rueidis.ParseURL(cfg.URL); err != nil {
			return nil, fmt.Errorf("session.redis.url: %w", err)
		}
	} else {
		opt.InitAddress = cfg.Addrs
		opt.Sentinel.MasterSet = cfg.MasterName
		if cfg.TLS {
			opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	if cfg.Username != "" {
		opt.Username = cfg.Username
	}
	if cfg.Password != "" {
		opt.Password = cfg.Password
	}
	if cfg.ClientCert != nil {
		if opt.TLSConfig == nil {
			return nil, errors.New("session.redis.tls_cert_file: TLS is off: use rediss:// (or tls: true with addrs)")
		}
		opt.TLSConfig.Certificates = []tls.Certificate{*cfg.ClientCert}
	}
	if opt.Sentinel.MasterSet != "" {
		// Sentinels usually share the data nodes' credentials and TLS.
		opt.Sentinel.Username, opt.Sentinel.Password, opt.Sentinel.TLSConfig = opt.Username, opt.Password, opt.TLSConfig
	}
	if opt.TLSConfig != nil && cfg.RootCAs != nil {
		opt.TLSConfig.RootCAs = cfg.RootCAs
		if opt.Sentinel.TLSConfig != nil {
			opt.Sentinel.TLSConfig.RootCAs = cfg.RootCAs
		}
	}
	opt.Dialer.Timeout = cfg.DialTimeout.D()
	opt.ConnWriteTimeout = cfg.Timeout.D()
	opt.ClientName = "lcw-auth-proxy"
	opt.DisableCache = cfg.CacheTTL == 0
	rc := &RedisClient{opt: opt, log: slog.Default()}
	rc.cached.Store(!opt.DisableCache)
	return rc, nil
}

// Cached says whether reads may use the client-side cache: cache_ttl is
// not 0 and the server accepted CLIENT TRACKING.
func (rc *RedisClient) Cached() bool { return rc.cached.Load() }

// Get returns the connected client, connecting first when needed.
func (rc *RedisClient) Get() (rueidis.Client, error) {
	if c := rc.c.Load(); c != nil {
		return *c, nil
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if c := rc.c.Load(); c != nil {
		return *c, nil
	}
	if time.Since(rc.lastTry) < retryAfter && rc.lastErr != nil {
		return nil, rc.lastErr
	}
	rc.lastTry = time.Now()
	c, err := rueidis.NewClient(rc.opt)
	if err != nil && !rc.opt.DisableCache && errors.Is(err, rueidis.ErrNoCache) {
		c, err = rc.withoutCache(err)
	}
	if err != nil {
		rc.lastErr = fmt.Errorf("%w: connect: %w", ErrUnavailable, err)
		return nil, rc.lastErr
	}
	rc.lastErr = nil
	rc.c.Store(&c)
	return c, nil
}

// withoutCache connects again without client-side caching, after the
// server refused CLIENT TRACKING: managed services do (ElastiCache 7.1
// answers "unknown subcommand 'tracking'", redis/rueidis#612; Redis
// Enterprise and Azure Managed Redis forbid the command; an ACL user may
// lack client|tracking). Sessions work the same, each request reads Redis.
// Called with mu held.
func (rc *RedisClient) withoutCache(refusal error) (rueidis.Client, error) {
	rc.opt.DisableCache = true
	rc.cached.Store(false)
	rc.log.Warn("session store: Redis refused client-side caching (CLIENT TRACKING); going on without it, every request reads Redis; set session.redis.cache_ttl: 0 to say so",
		"err", firstLine(refusal))
	if rc.cacheRefused != nil {
		rc.cacheRefused()
	}
	return rueidis.NewClient(rc.opt)
}

// firstLine is the first line of err's text: rueidis appends the command
// that failed on the next lines.
func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Close closes the connection, if any.
func (rc *RedisClient) Close() {
	if c := rc.c.Load(); c != nil {
		(*c).Close()
	}
}

var errNoClient = errors.New("session: no Redis client")
