package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// problems collects every validation error so one run shows them all.
type problems []string

// add records a problem with key. Credentials in the arguments (a URL's
// user info) are hidden: check-config and serve print these messages.
func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Sprintf("%s: %s", key, fmt.Sprintf(format, redactArgs(args)...)))
}

// err joins the problems into one error. where, when set, says where each
// problem's key was given ("line 12", "environment LCW_…"); it is put in
// front so the reader can go straight there.
func (p problems) err(where func(key string) string) error {
	if len(p) == 0 {
		return nil
	}
	out := make([]string, len(p))
	for i, pr := range p {
		out[i] = pr
		if key, _, ok := strings.Cut(pr, ": "); ok && where != nil {
			if w := where(key); w != "" {
				out[i] = w + ": " + pr
			}
		}
	}
	return fmt.Errorf("invalid configuration:\n  %s", strings.Join(out, "\n  "))
}

// resolve provisions the derived values, then validates the whole
// configuration. Problems come in a fixed order: provisioning (files,
// URLs, secrets, patterns) first, then each section as Config lists them.
func (c *Config) resolve(where func(key string) string, getenv func(string) string) error {
	var p problems
	c.provision(&p, getenv)
	c.validate(&p)
	return p.err(where)
}

// provision computes every derived field (yaml:"-") once: parsed URLs and
// networks, secrets read from their files, decoded keys, compiled patterns,
// normalized lists, the tracing setup with the OTEL_* environment applied.
// Nothing downstream derives them again. Inputs that cannot be parsed are
// reported here and leave the derived field empty.
func (c *Config) provision(p *problems, getenv func(string) string) {
	c.Prefix = strings.TrimSuffix(c.Prefix, "/")
	c.Paths = NewPaths(c.Prefix)
	c.Public = parsePublicURL(p, c.PublicURL)
	for i, s := range c.TrustedProxies {
		pfx, err := parsePrefix(s)
		if err != nil {
			p.add(fmt.Sprintf("trusted_proxies[%d]", i), "%q is neither an IP address nor a CIDR range like 10.0.0.0/8", s)
			continue
		}
		c.TrustedProxyNets = append(c.TrustedProxyNets, pfx)
	}
	c.UpstreamURL = c.Upstream.parseURL(p)
	c.Upstream.RootCAs = readCAFile(p, "upstream.ca_file", c.Upstream.CAFile,
		"give the CA certificate (-----BEGIN CERTIFICATE-----) that signed the upstream's certificate")
	c.OIDC.ClientSecret = readSecret(p, "oidc.client_secret", c.OIDC.ClientSecret, c.OIDC.ClientSecretFile)
	c.OIDC.provisionCA(p)
	c.Session.provision(p, c.Public)
	c.Session.FrontchannelLogout.provision(p, c.OIDC.Issuer, c.OIDC.DiscoveryURL)
	c.Access.provision()
	c.Inject.CSP.Widget = WidgetCSP(c.Inject.Widget, c.Inject.CSP.WidgetSources)
	c.Token.provision(p)
	c.Tracing.provision(p, getenv)
}

// validate checks the provisioned configuration; it changes nothing.
func (c *Config) validate(p *problems) {
	checkHostPort(p, "listen", c.Listen, true)
	if c.MetricsListen != "" {
		checkHostPort(p, "metrics_listen", c.MetricsListen, true)
		if c.MetricsListen == c.Listen {
			p.add("metrics_listen", "must differ from listen (%s): metrics are served on their own listener", c.Listen)
		}
	}
	if !prefixRE.MatchString(c.Prefix) {
		p.add("prefix", "%q must be a path like /_lcw (a leading slash, letters, digits, '_', '-', '.', '/')", c.Prefix)
	}
	if c.ShutdownTimeout <= 0 {
		p.add("shutdown_timeout", "must be positive, e.g. 20s")
	}
	c.Log.validate(p)
	c.Server.validate(p)
	c.Upstream.validate(p)
	c.OIDC.validate(p)
	c.OIDC.validateLogoutURL(p)
	c.Session.validate(p)
	c.Access.validate(p)
	c.Headers.validate(p)
	c.Token.validate(p)
	c.Inject.validate(p, !c.Upstream.Disabled)
	c.Tracing.validate(p)
}

var (
	prefixRE   = regexp.MustCompile(`^(/[A-Za-z0-9_.\-]+)+$`)
	tokenRE    = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
	upgradeRE  = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+(/[!#$%&'*+\\-.^_`|~0-9A-Za-z]+)?$")
	jsIdentRE  = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$`)
	cookieName = tokenRE
)

func checkHostPort(p *problems, key, v string, required bool) {
	if v == "" {
		if required {
			p.add(key, "is required: an address like 127.0.0.1:4180 or :4180")
		}
		return
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		p.add(key, "%q is not host:port; write it like 127.0.0.1:4180 or :4180", v)
	}
}

func parsePublicURL(p *problems, v string) *url.URL {
	if v == "" {
		p.add("public_url", "is required: the origin browsers use, e.g. https://shop.example.com")
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("public_url", "%q must be an absolute http or https origin, e.g. https://shop.example.com", v)
		return nil
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		p.add("public_url", "%q must be an origin only (scheme and host), without path, query or user info", v)
		return nil
	}
	return &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host)}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (l *Log) validate(p *problems) {
	switch l.Format {
	case LogJSON, LogText, LogGCP:
	default:
		p.add("log.format", "%q is not a log format: use json, text or gcp (JSON with Cloud Logging's severity, for GKE and Cloud Run)", l.Format)
	}
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q is not a level: use debug, info, warn or error", l.Level)
	}
	switch l.Email {
	case LogEmailHash, LogEmailPlain, LogEmailOff:
	default:
		p.add("log.email", "%q is not a choice: use hash (the SHA-256 of the lower-cased address), plain or off", l.Email)
	}
}

func (s *Server) validate(p *problems) {
	if s.ReadHeaderTimeout <= 0 {
		p.add("server.read_header_timeout", "must be positive, e.g. 10s")
	}
	switch {
	case s.ReadTimeout < 0:
		p.add("server.read_timeout", "must not be negative (0 = no limit on reading a request body)")
	case s.ReadTimeout > 0 && s.ReadTimeout < s.ReadHeaderTimeout:
		// It bounds headers and body together, so a shorter value would
		// silently shorten read_header_timeout too.
		p.add("server.read_timeout", "%s is shorter than server.read_header_timeout (%s), yet it covers the headers as well as the body: use at least %[2]s, or 0 for no limit",
			s.ReadTimeout.D(), s.ReadHeaderTimeout.D())
	}
	if s.IdleTimeout <= 0 {
		p.add("server.idle_timeout", "must be positive, e.g. 120s")
	}
	if s.MaxHeaderBytes < 4096 {
		p.add("server.max_header_bytes", "%d is too small: use at least 4096 (default %d)", s.MaxHeaderBytes, Default().Server.MaxHeaderBytes)
	}
	if s.MaxConnections < 0 {
		p.add("server.max_connections", "must not be negative (0 = no limit; default %d)", Default().Server.MaxConnections)
	}
	switch {
	case s.TLSCertFile == "" && s.TLSKeyFile == "":
	case s.TLSCertFile == "" || s.TLSKeyFile == "":
		p.add("server.tls_cert_file", "and server.tls_key_file go together: set both to terminate TLS, or neither")
	default:
		if _, err := tls.LoadX509KeyPair(s.TLSCertFile, s.TLSKeyFile); err != nil {
			p.add("server.tls_cert_file", "cannot load the certificate %s with key %s: %v", s.TLSCertFile, s.TLSKeyFile, err)
		}
	}
}

func (u *Upstream) validate(p *problems) {
	if u.Timeout <= 0 {
		p.add("upstream.timeout", "must be positive, e.g. 60s")
	}
	if u.DialTimeout <= 0 {
		p.add("upstream.dial_timeout", "must be positive, e.g. 5s")
	}
	if u.MaxIdleConnsPerHost < 1 {
		p.add("upstream.max_idle_conns_per_host", "must be at least 1 (default %d)", Default().Upstream.MaxIdleConnsPerHost)
	}
	if u.IdleConnTimeout <= 0 {
		p.add("upstream.idle_conn_timeout", "must be positive, e.g. 90s")
	}
	for i, up := range u.AllowedUpgrades {
		key := fmt.Sprintf("upstream.allowed_upgrades[%d]", i)
		name, _, _ := strings.Cut(up, "/")
		switch {
		case strings.EqualFold(name, "h2c") || strings.EqualFold(name, "h2"):
			p.add(key, "%q cannot be allowed: after the switch the connection carries HTTP/2 requests the proxy never sees (h2c smuggling past the access rules); remove it", up)
		case !upgradeRE.MatchString(up):
			p.add(key, "%q is not a protocol as the Upgrade header names it (name or name/version), e.g. websocket", up)
		}
	}
}

func (u *Upstream) parseURL(p *problems) *url.URL {
	if u.Disabled {
		if u.URL != "" {
			p.add("upstream.url", "is set but upstream.disabled is true: remove one (disabled runs forward-auth only, without a site to proxy)")
		}
		return nil
	}
	if u.URL == "" {
		p.add("upstream.url", "is required: the site to proxy, e.g. http://127.0.0.1:8080 (or upstream.disabled: true to run only forward-auth behind an existing ingress)")
		return nil
	}
	pu, err := url.Parse(u.URL)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		p.add("upstream.url", "%q must be an absolute http or https URL, e.g. http://127.0.0.1:8080", u.URL)
		return nil
	}
	if pu.RawQuery != "" || pu.Fragment != "" {
		p.add("upstream.url", "%q must not carry a query or fragment", u.URL)
		return nil
	}
	return pu
}

func (o *OIDC) validate(p *problems) {
	if o.Issuer == "" {
		p.add("oidc.issuer", "is required: the OpenID provider's issuer URL, e.g. https://login.example.com/realms/shop")
	} else if u, err := url.Parse(o.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("oidc.issuer", "%q must be an absolute http or https URL", o.Issuer)
	}
	if o.ClientID == "" {
		p.add("oidc.client_id", "is required: the client ID registered for the proxy at the OpenID provider")
	}
	if !slices.Contains(o.Scopes, "openid") {
		p.add("oidc.scopes", "must include openid (got %v)", o.Scopes)
	}
	if o.ClockSkew < 0 || o.ClockSkew.D() > 5*time.Minute {
		p.add("oidc.clock_skew", "must be between 0 and 5m (default %s)", DurationText(Default().OIDC.ClockSkew.D()))
	}
	if o.DiscoveryTimeout <= 0 {
		p.add("oidc.discovery_timeout", "must be positive, e.g. 10s")
	}
	if !strings.HasPrefix(o.PostLogoutRedirectPath, "/") {
		p.add("oidc.post_logout_redirect_path", "%q must be a path on this site starting with /", o.PostLogoutRedirectPath)
	}
	o.validateTenants(p)
	switch o.TokenAuthMethod {
	case "", TokenAuthBasic, TokenAuthPost:
	default:
		p.add("oidc.token_auth_method", "%q is not supported: use %s or %s (or leave it unset to follow the provider's discovery document)",
			o.TokenAuthMethod, TokenAuthBasic, TokenAuthPost)
	}
}

// readSecret returns the inline value or the trimmed content of file; giving
// both is an error because it is unclear which one wins.
func readSecret(p *problems, key, inline, file string) string {
	if file == "" {
		return inline
	}
	if inline != "" {
		p.add(key, "is set both inline and as %s_file; keep one", key)
		return ""
	}
	data, err := os.ReadFile(file)
	if err != nil {
		msg := fmt.Sprintf("cannot read %s: %v", file, err)
		if errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(key, "session.") {
			// The one secret the operator makes, not copies from an IdP.
			msg += fmt.Sprintf("; create it with: (umask 077; openssl rand -base64 32 > %s)", file)
		}
		p.add(key+"_file", "%s", msg)
		return ""
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		p.add(key+"_file", "%s is empty", file)
	}
	return v
}

// provision reads and decodes the session secrets (current first) and
// decides whether cookies are Secure.
func (s *Session) provision(p *problems, public *url.URL) {
	secret := readSecret(p, "session.secret", s.Secret, s.SecretFile)
	if secret == "" && s.SecretFile == "" {
		p.add("session.secret", "is required (or session.secret_file): %s", secretFix)
	} else if secret != "" {
		if k, err := decodeKey(secret); err != nil {
			p.add("session.secret", "%v: %s", err, secretFix)
		} else {
			s.Keys = append(s.Keys, k)
		}
	}
	s.Secret = secret
	olds := append([]string(nil), s.PreviousSecrets...)
	for i, f := range s.PreviousSecretFiles {
		olds = append(olds, readSecret(p, fmt.Sprintf("session.previous_secret_files[%d]", i), "", f))
	}
	for i, old := range olds {
		k, err := decodeKey(old)
		if err != nil {
			p.add(fmt.Sprintf("session.previous_secrets[%d]", i), "%v: %s", err, secretFix)
			continue
		}
		s.Keys = append(s.Keys, k)
	}
	if s.CookieSecure != nil {
		s.Secure = *s.CookieSecure
	} else {
		s.Secure = public != nil && public.Scheme == "https"
	}
	if s.Store == "redis" {
		s.Redis.provision(p)
	}
	s.Name = s.CookieName
	if strings.HasPrefix(s.CookieName, hostPrefix) {
		s.HostPrefix = true
	} else if s.CookieHostPrefix && s.Secure && s.CookieDomain == "" && s.CookiePath == "/" {
		s.Name, s.HostPrefix = hostPrefix+s.CookieName, true
	}
}

// hostPrefix makes browsers accept a cookie only from this very host, over
// HTTPS, for Path=/ (RFC 6265bis "__Host-" prefix).
const hostPrefix = "__Host-"

// MaxCookieNameLen bounds session.cookie_name, so that name and sealed
// value of each session cookie stay within browsers' 4096 bytes.
const MaxCookieNameLen = 64

const secretFix = "32 random bytes in base64; generate one with: openssl rand -base64 32"

// provision reads the Redis password file, CA file and client certificate.
func (r *Redis) provision(p *problems) {
	r.Password = readSecret(p, "session.redis.password", r.Password, r.PasswordFile)
	r.provisionClientCert(p)
	r.RootCAs = readCAFile(p, "session.redis.ca_file", r.CAFile, "give the CA that signed the Redis server's certificate")
}

// readCAFile reads the PEM certificates of file (the value of key) into a
// pool; nil when file is empty or unusable, which is reported with fix.
func readCAFile(p *problems, key, file, fix string) *x509.CertPool {
	if file == "" {
		return nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		p.add(key, "cannot read %s: %v", file, err)
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		if fix != "" {
			p.add(key, "%s holds no PEM certificate: %s", file, fix)
		} else {
			p.add(key, "%s holds no PEM certificate", file)
		}
		return nil
	}
	return pool
}

// provisionClientCert loads tls_cert_file with tls_key_file (both or
// neither).
func (r *Redis) provisionClientCert(p *problems) {
	switch {
	case r.TLSCertFile == "" && r.TLSKeyFile == "":
		return
	case r.TLSKeyFile == "":
		p.add("session.redis.tls_key_file", "is required with session.redis.tls_cert_file: give the client certificate's private key (PEM)")
		return
	case r.TLSCertFile == "":
		p.add("session.redis.tls_cert_file", "is required with session.redis.tls_key_file: give the client certificate (PEM) the Redis server accepts")
		return
	}
	cert, err := tls.LoadX509KeyPair(r.TLSCertFile, r.TLSKeyFile)
	if err != nil {
		p.add("session.redis.tls_cert_file", "cannot load %s with key %s: %v: give the client certificate and its private key as PEM", r.TLSCertFile, r.TLSKeyFile, err)
		return
	}
	r.ClientCert = &cert
}

func (s *Session) validateStore(p *problems) {
	switch s.Store {
	case "cookie":
		if !reflect.DeepEqual(s.Redis, Default().Session.Redis) {
			p.add("session.redis", "is set but session.store is cookie: set session.store: redis to keep sessions in Redis, or remove session.redis")
		}
		if s.BackchannelLogout != nil && *s.BackchannelLogout {
			p.add("session.backchannel_logout", "needs a server-side session store (session.store: redis): with cookie sessions the server holds nothing it could end when the IdP calls")
		}
		return
	case "redis":
	default:
		p.add("session.store", "%q is not a store: use cookie (the default, sessions in the browser) or redis (sessions on the server; revocation, back-channel logout)", s.Store)
		return
	}
	r := &s.Redis
	switch {
	case r.URL == "" && len(r.Addrs) == 0:
		p.add("session.redis.url", "is required with session.store: redis: redis://host:6379 (rediss:// for TLS), or session.redis.addrs for a Cluster or Sentinel")
	case r.URL != "" && len(r.Addrs) > 0:
		p.add("session.redis.url", "and session.redis.addrs are both set: use url for one node, addrs for a Cluster (or Sentinels with master_name)")
	case r.URL != "":
		u, err := url.Parse(r.URL)
		switch {
		case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix"):
			p.add("session.redis.url", "must be redis://host:port, rediss://host:port (TLS) or unix:///path/to/redis.sock")
		case u.Scheme != "unix" && u.Host == "":
			p.add("session.redis.url", "has no host: write it like redis://redis:6379")
		}
		if r.MasterName != "" {
			p.add("session.redis.master_name", "needs session.redis.addrs (the Sentinels), not url")
		}
		if r.TLS {
			p.add("session.redis.tls", "is for addrs; with url write rediss:// instead")
		}
	default:
		for i, a := range r.Addrs {
			checkHostPort(p, fmt.Sprintf("session.redis.addrs[%d]", i), a, true)
		}
	}
	if r.CAFile != "" && !r.TLS && !strings.HasPrefix(r.URL, "rediss://") {
		p.add("session.redis.ca_file", "is set but TLS is off: use rediss:// (or tls: true with addrs)")
	}
	if r.TLSCertFile != "" && !r.TLS && !strings.HasPrefix(r.URL, "rediss://") {
		p.add("session.redis.tls_cert_file", "is set but TLS is off: use rediss:// (or tls: true with addrs)")
	}
	if r.KeyPrefix == "" || strings.ContainsAny(r.KeyPrefix, "{} \t\r\n") {
		p.add("session.redis.key_prefix", "%q must be non-empty without spaces or braces (braces are Cluster hash tags), e.g. lcw:", r.KeyPrefix)
	}
	if r.DialTimeout <= 0 {
		p.add("session.redis.dial_timeout", "must be positive, e.g. 5s")
	}
	if r.Timeout <= 0 || r.Timeout.D() > 30*time.Second {
		p.add("session.redis.timeout", "%s is out of range: use more than 0 and at most 30s (default %s); a slower Redis counts as down", r.Timeout.D(), DurationText(Default().Session.Redis.Timeout.D()))
	}
	if r.CacheTTL < 0 {
		p.add("session.redis.cache_ttl", "must not be negative (0 turns the client-side cache off; default %s)", DurationText(Default().Session.Redis.CacheTTL.D()))
	}
}

func (s *Session) validate(p *problems) {
	s.validateStore(p)
	if s.Lifetime.D() < time.Minute {
		p.add("session.lifetime", "must be at least 1m (default %s)", DurationText(Default().Session.Lifetime.D()))
	}
	if len(s.CookieName) > MaxCookieNameLen {
		p.add("session.cookie_name", "%q is %d characters; at most %d leave the session its room in the browser's 4096 bytes per cookie", s.CookieName, len(s.CookieName), MaxCookieNameLen)
	}
	if !cookieName.MatchString(s.CookieName) {
		p.add("session.cookie_name", "%q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~)", s.CookieName)
	}
	if strings.HasPrefix(s.CookieName, hostPrefix) && (s.CookieDomain != "" || s.CookiePath != "/" || !s.Secure) {
		p.add("session.cookie_name", "%q starts with __Host-, which browsers accept only with an empty cookie_domain, cookie_path / and Secure cookies (an https public_url); drop the prefix or those settings (session.cookie_host_prefix adds it whenever possible)", s.CookieName)
	}
	if s.RefreshInterval < 0 {
		p.add("session.refresh_interval", "must not be negative (0 = refresh when the access token expires)")
	}
	if !strings.HasPrefix(s.CookiePath, "/") {
		p.add("session.cookie_path", "%q must start with /", s.CookiePath)
	}
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != 32 {
				return nil, fmt.Errorf("decodes to %d bytes, not 32", len(k))
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("is not base64")
}

// provision normalizes the allowed email domains for comparison with the
// domain part of an email claim.
func (a *Access) provision() {
	a.EmailDomains = make([]string, len(a.AllowedEmailDomains))
	for i, d := range a.AllowedEmailDomains {
		a.EmailDomains[i] = strings.ToLower(strings.TrimPrefix(d, "@"))
	}
}

func (a *Access) validate(p *problems) {
	if a.Mode != "required" && a.Mode != "optional" {
		p.add("access.mode", "%q is not a mode: use required (every path needs a login except public_paths) or optional", a.Mode)
	}
	if a.SilentSignIn && a.Mode != "optional" {
		p.add("access.silent_sign_in", "needs access.mode: optional: in required mode every visitor without a session is sent to sign in anyway")
	}
	for i, pp := range a.PublicPaths {
		if !strings.HasPrefix(pp, "/") {
			p.add(fmt.Sprintf("access.public_paths[%d]", i), "%q must start with / (a trailing / matches the whole subtree)", pp)
		}
	}
	for i, d := range a.AllowedEmailDomains {
		if d == "" || strings.ContainsAny(d, "@/ ") {
			p.add(fmt.Sprintf("access.allowed_email_domains[%d]", i), "%q must be a bare domain like example.com", d)
		}
	}
}

func (h *Headers) validate(p *problems) {
	for _, kv := range [][2]string{{"headers.user", h.User}, {"headers.email", h.Email}, {"headers.preferred_username", h.PreferredUsername}, {"headers.groups", h.Groups}} {
		if kv[1] != "" && !tokenRE.MatchString(kv[1]) {
			p.add(kv[0], "%q is not a valid header name", kv[1])
		}
	}
	for i, v := range h.Strip {
		if !tokenRE.MatchString(v) {
			p.add(fmt.Sprintf("headers.strip[%d]", i), "%q is not a valid header name", v)
		}
	}
}

func (i *Inject) validate(p *problems, upstream bool) {
	if i.Enabled && !upstream {
		p.add("inject.enabled", "needs an upstream: with upstream.disabled (forward-auth) the ingress adds the bootstrap tag itself (nginx sub_filter; see deploy/examples/forward-auth)")
	}
	if !jsIdentRE.MatchString(i.ClientFunction) {
		p.add("inject.client_function", "%q must be a JavaScript global name, optionally dotted, e.g. lcwAuth.getAuthenticationToken", i.ClientFunction)
	}
	if i.OnUnauthenticated != "empty" && i.OnUnauthenticated != "login" {
		p.add("inject.on_unauthenticated", "%q must be empty (callback with \"\") or login (send the user to sign in)", i.OnUnauthenticated)
	}
	for j, pp := range i.ExcludePaths {
		if !strings.HasPrefix(pp, "/") {
			p.add(fmt.Sprintf("inject.exclude_paths[%d]", j), "%q must start with /", pp)
		}
	}
	i.validateWidgetCSP(p)
	w := i.Widget
	if w.Src == "" && w.AppID == "" && w.OrgID == "" && w.OrgURL == "" {
		return
	}
	for _, kv := range [][2]string{{"inject.widget.src", w.Src}, {"inject.widget.app_id", w.AppID}, {"inject.widget.org_id", w.OrgID}, {"inject.widget.org_url", w.OrgURL}} {
		if kv[1] == "" {
			p.add(kv[0], "is required once any widget setting is given (src, app_id, org_id and org_url come from the widget's embed code)")
		}
	}
	for _, kv := range [][2]string{{"inject.widget.src", w.Src}, {"inject.widget.org_url", w.OrgURL}} {
		if kv[1] == "" {
			continue
		}
		if u, err := url.Parse(kv[1]); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add(kv[0], "%q must be an absolute https URL", kv[1])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(w.Attributes)) {
		if !strings.HasPrefix(name, "data-") || !tokenRE.MatchString(name) {
			p.add("inject.widget.attributes."+name, "attribute names must start with data- (e.g. data-color-override)")
		}
	}
}
