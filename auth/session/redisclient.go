package session

import (
	"crypto/tls"
	"errors"
	"fmt"
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
	return &RedisClient{opt: opt}, nil
}

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
	if err != nil {
		rc.lastErr = fmt.Errorf("%w: connect: %w", ErrUnavailable, err)
		return nil, rc.lastErr
	}
	rc.lastErr = nil
	rc.c.Store(&c)
	return c, nil
}

// Close closes the connection, if any.
func (rc *RedisClient) Close() {
	if c := rc.c.Load(); c != nil {
		(*c).Close()
	}
}

var errNoClient = errors.New("session: no Redis client")
