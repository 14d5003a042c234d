package config

import (
	"strings"
	"time"
)

// Default returns the configuration every file starts from. This is the one
// place defaults are written; the README's reference lists the same values.
func Default() Config {
	return Config{
		Listen:          "127.0.0.1:4180",
		Prefix:          "/_lcw",
		ShutdownTimeout: Duration(20 * time.Second),
		Log:             Log{Format: "json", Level: "info", AccessLog: true, Email: LogEmailHash},
		Server: Server{
			ReadHeaderTimeout: Duration(10 * time.Second),
			// A minute for headers and body together: ample for forms and
			// ordinary uploads, short enough that a trickled body is cut off.
			ReadTimeout:    Duration(60 * time.Second),
			IdleTimeout:    Duration(120 * time.Second),
			MaxHeaderBytes: 64 << 10,
			// Well above a sidecar's real concurrency, well below the
			// usual 65536 file descriptors (each may also need an
			// upstream connection).
			MaxConnections: 10000,
		},
		Upstream: Upstream{
			RewriteRedirects:    true,
			Timeout:             Duration(60 * time.Second),
			DialTimeout:         Duration(5 * time.Second),
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     Duration(90 * time.Second),
			AllowedUpgrades:     []string{"websocket"},
		},
		OIDC: OIDC{
			Scopes:           []string{"openid", "profile", "email"},
			ClockSkew:        Duration(30 * time.Second),
			DiscoveryTimeout: Duration(10 * time.Second),
			// Where the browser lands after logout (and, with RP-initiated
			// logout, what is registered as the post-logout redirect URI).
			PostLogoutRedirectPath: "/",
		},
		Session: Session{
			Store: "cookie",
			Redis: Redis{
				KeyPrefix:   "lcw:",
				DialTimeout: Duration(5 * time.Second),
				Timeout:     Duration(2 * time.Second),
				CacheTTL:    Duration(time.Minute),
			},
			Lifetime:         Duration(12 * time.Hour),
			CookieName:       "_lcw",
			CookiePath:       "/",
			CookieHostPrefix: true,
		},
		Access: Access{Mode: "required", GroupsClaim: "groups"},
		Headers: Headers{
			User:              "X-Forwarded-User",
			Email:             "X-Forwarded-Email",
			PreferredUsername: "X-Forwarded-Preferred-Username",
			Groups:            "X-Forwarded-Groups",
		},
		Token: Token{
			Lifetime:         Duration(10 * time.Minute),
			NotBeforeSkew:    Duration(60 * time.Second),
			SubjectClaim:     "sub",
			RetiredKeyGrace:  Duration(24 * time.Hour),
			KeyCheckInterval: Duration(10 * time.Second),
			ContextTimeout:   Duration(2 * time.Second),
			// Several tabs starting chats at once get 20 tokens straight
			// away and one every 2s after that; a flood gets 0.5
			// signatures a second, a thousandth of a core.
			RateLimit: 30,
			RateBurst: 20,
			Contact: Contact{
				Table:     TableContact,
				Match:     ContactMatch{Claim: "email", Column: "emailaddress1"},
				OnNoMatch: NoMatchSubject,
				Timeout:   Duration(3 * time.Second),
				Recheck:   Duration(time.Hour),
			},
		},
		Inject: Inject{
			ClientFunction:    "lcwAuth.getAuthenticationToken",
			OnUnauthenticated: "empty",
			Widget:            Widget{LCWVersion: "prod"},
		},
		Tracing: Tracing{Protocol: ProtocolHTTP, SampleRatio: 1, ServiceName: "lcw-auth-proxy"},
	}
}

// DurationText writes d the way a configuration value is written: 10m,
// 12h, 30s rather than time.Duration's 10m0s. Messages that quote a
// default or a bound use it, so they read like the key they name.
func DurationText(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}
