package session

import (
	"context"
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
	// probeKey is read once with the client cache, to see it is allowed.
	probeKey string

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
	rc := &RedisClient{opt: opt, log: slog.Default(), probeKey: cfg.KeyPrefix + "cache-probe"}
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
	} else if err == nil && !rc.opt.DisableCache {
		if refusal := probeCache(c, rc.probeKey, rc.opt.ConnWriteTimeout); refusal != nil {
			c.Close()
			c, err = rc.withoutCache(refusal)
		}
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

// probeCache writes key (under the key prefix, which an ACL user may use;
// it expires in a minute) and makes one cached read of it, and fails
// when the server refuses what a cached read needs besides CLIENT TRACKING
// (which the handshake checked): rueidis sends CLIENT CACHING YES, then
// MULTI, PTTL, GET, EXEC. A refused CLIENT CACHING is the dangerous one:
// rueidis does not report it, caches the value anyway, and the server,
// not tracking the key, never invalidates it, so an ended session would
// stay valid on this replica until cache_ttl. Network errors are not a
// refusal: the connection is kept, rueidis reconnects.
func probeCache(c rueidis.Client, key string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.Do(ctx, c.B().ClientCaching().Yes().Build()).Error(); err != nil && isRefusal(err) {
		return err
	}
	// The key must exist: with MULTI refused, a missing key's read still
	// answers nil.
	_ = c.Do(ctx, c.B().Set().Key(key).Value("1").PxMilliseconds(time.Minute.Milliseconds()).Build()).Error()
	err := c.DoCache(ctx, c.B().Get().Key(key).Cache(), time.Second).Error()
	if err != nil && !rueidis.IsRedisNil(err) && (isRefusal(err) || errors.Is(err, rueidis.ErrDoCacheAborted)) {
		return err
	}
	return nil
}

// isRefusal says err is the server's answer (a Redis error such as
// NOPERM or unknown command), not a broken connection.
func isRefusal(err error) bool {
	_, ok := rueidis.IsRedisErr(err)
	return ok
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
