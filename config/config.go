// Package config loads and validates lcw-auth-proxy's configuration: one YAML
// file, LCW_* environment overrides and *_file secrets. Load returns either a
// fully valid Config or an error that names the key and the fix; nothing
// downstream re-validates.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"net/url"
	"regexp"
	"time"
)

// Config is the whole configuration, grouped by concern. Defaults live in
// Default; the README's configuration reference mirrors it.
//
// Fields tagged path:"true" hold file paths: Load resolves relative ones
// against the config file's directory (against the current directory when
// they come from the environment), so a new path-valued key needs only the
// tag.
type Config struct {
	Listen          string   `yaml:"listen"`
	PublicURL       string   `yaml:"public_url"`
	Prefix          string   `yaml:"prefix"`
	MetricsListen   string   `yaml:"metrics_listen"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	TrustedProxies  []string `yaml:"trusted_proxies"`

	Log      Log      `yaml:"log"`
	Server   Server   `yaml:"server"`
	Upstream Upstream `yaml:"upstream"`
	OIDC     OIDC     `yaml:"oidc"`
	Session  Session  `yaml:"session"`
	Access   Access   `yaml:"access"`
	Headers  Headers  `yaml:"headers"`
	Token    Token    `yaml:"token"`
	Inject   Inject   `yaml:"inject"`
	Tracing  Tracing  `yaml:"tracing"`

	// Derived at load time; never read from YAML.
	Public           *url.URL       `yaml:"-"`
	UpstreamURL      *url.URL       `yaml:"-"`
	TrustedProxyNets []netip.Prefix `yaml:"-"`
	// Paths are the proxy's own endpoints under Prefix.
	Paths Paths `yaml:"-"`
}

// Log configures the structured logger.
type Log struct {
	Format    string `yaml:"format"` // LogJSON, LogText or LogGCP
	Level     string `yaml:"level"`  // debug, info, warn, error
	AccessLog bool   `yaml:"access_log"`
	// Email is how the sign-in line names the user beside the subject:
	// LogEmailHash, LogEmailPlain or LogEmailOff.
	Email string `yaml:"email"`
}

// How the sign-in log line shows the user's email (log.email): the
// SHA-256 of the lower-cased address (a pseudonym an operator who knows
// the address can search for), the address itself, or nothing.
const (
	LogEmailHash  = "hash"
	LogEmailPlain = "plain"
	LogEmailOff   = "off"
)

// The log formats (log.format): slog's JSON, slog's text, and JSON with
// Google Cloud Logging's severity and message keys.
const (
	LogJSON = "json"
	LogText = "text"
	LogGCP  = "gcp"
)

// Server holds the listener's protective limits.
type Server struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, headers and body, so a
	// body trickled byte by byte cannot hold a connection (or an upstream
	// request) open; 0 lifts the bound for sites with long uploads.
	ReadTimeout    Duration `yaml:"read_timeout"`
	IdleTimeout    Duration `yaml:"idle_timeout"`
	MaxHeaderBytes int      `yaml:"max_header_bytes"`
	// MaxConnections caps the open connections per listener; further
	// clients wait in the kernel's accept queue. 0 means no cap.
	MaxConnections int `yaml:"max_connections"`
	// TLSCertFile and TLSKeyFile, when set, make the proxy terminate TLS
	// itself (HTTP/2 included); the files are re-read when they change.
	TLSCertFile string `yaml:"tls_cert_file" path:"true"`
	TLSKeyFile  string `yaml:"tls_key_file" path:"true"`
}

// Upstream is the site the proxy fronts.
type Upstream struct {
	URL string `yaml:"url"`
	// Disabled runs the proxy without an upstream, for forward-auth behind
	// an existing ingress: only {prefix} is served, everything else is 404.
	Disabled     bool `yaml:"disabled"`
	PreserveHost bool `yaml:"preserve_host"`
	// RewriteRedirects maps Location/Refresh URLs that point at the
	// upstream's own address to public_url (nginx's proxy_redirect default).
	RewriteRedirects    bool     `yaml:"rewrite_redirects"`
	Timeout             Duration `yaml:"timeout"` // until response headers arrive; exceeded = 504
	DialTimeout         Duration `yaml:"dial_timeout"`
	MaxIdleConnsPerHost int      `yaml:"max_idle_conns_per_host"`
	IdleConnTimeout     Duration `yaml:"idle_conn_timeout"`
	CAFile              string   `yaml:"ca_file" path:"true"`
	InsecureSkipVerify  bool     `yaml:"insecure_skip_verify"`
	// AllowedUpgrades are the protocols a client may switch to through
	// the proxy (Upgrade header, 101 answer): after the switch the
	// connection is a tunnel the proxy no longer checks. Any other Upgrade
	// is removed and the request forwarded as an ordinary one; h2c (and
	// h2) can never be listed.
	// Matched without regard to case.
	AllowedUpgrades []string `yaml:"allowed_upgrades"`

	// RootCAs is CAFile, parsed: the only roots an https upstream's
	// certificate is checked against. Nil without ca_file.
	RootCAs *x509.CertPool `yaml:"-"`
}

// TLSConfig is the TLS client configuration toward an https upstream:
// RootCAs as the only roots, or no verification with insecure_skip_verify;
// nil (the system's roots) when neither is set. The proxy's transport and
// check-config --online both dial the upstream with it.
func (u *Upstream) TLSConfig() *tls.Config {
	if u.RootCAs == nil && !u.InsecureSkipVerify {
		return nil
	}
	return &tls.Config{RootCAs: u.RootCAs, InsecureSkipVerify: u.InsecureSkipVerify} //nolint:gosec // explicit opt-in for self-signed upstreams
}

// OIDC is the relying-party configuration toward the site's OpenID provider.
type OIDC struct {
	Issuer                 string            `yaml:"issuer"`
	ClientID               string            `yaml:"client_id"`
	ClientSecret           string            `yaml:"client_secret" secret:"true"`
	ClientSecretFile       string            `yaml:"client_secret_file" path:"true"`
	Scopes                 []string          `yaml:"scopes"`
	ClockSkew              Duration          `yaml:"clock_skew"`
	Userinfo               bool              `yaml:"userinfo"` // merge userinfo claims into the session
	AuthParams             map[string]string `yaml:"auth_params"`
	PostLogoutRedirectPath string            `yaml:"post_logout_redirect_path"`
	DiscoveryTimeout       Duration          `yaml:"discovery_timeout"`
	// AllowUnverifiedEmail keeps an email claim that lacks email_verified:
	// true, for IdPs that never send email_verified (and only verified
	// addresses). Off, such an email is treated as absent everywhere.
	AllowUnverifiedEmail bool `yaml:"allow_unverified_email"`
	// TokenAuthMethod is how the proxy authenticates at the token endpoint:
	// client_secret_basic or client_secret_post. Empty: the first of those
	// (basic first) that discovery's token_endpoint_auth_methods_supported
	// lists, basic when it lists none (the spec's default). Never found by
	// trial: a refused grant must not be retried as a client problem.
	TokenAuthMethod string `yaml:"token_auth_method"`

	// Identity providers off the spec's path (Entra ID multi-tenant, Azure
	// AD B2C, Entra External ID; see tenant.go).
	//
	// DiscoveryURL is where the discovery document is when it is not
	// {issuer}/.well-known/openid-configuration. Issuer may then contain
	// {tenantid}: a token's iss must be Issuer with the token's tid in
	// its place.
	DiscoveryURL string `yaml:"discovery_url"`
	// AllowedTenants (tenant ids) restricts which tenants may sign in with
	// a {tenantid} issuer; empty: every tenant the IdP signs for.
	AllowedTenants []string `yaml:"allowed_tenants"`

	// IdPs off the spec's path: logout and TLS (see oidc_offspec.go).

	// LogoutURL, when set, is where RP-initiated logout sends the browser
	// instead of the discovered end_session_endpoint, with the
	// LogoutPlaceholders filled in (query-escaped): for IdPs whose logout
	// takes other parameters (Amazon Cognito's client_id and logout_uri,
	// Auth0's /v2/logout returnTo) or whose discovery names none.
	LogoutURL string `yaml:"logout_url"`
	// CAFile is a PEM bundle of the CAs that sign the IdP's certificates
	// (ADFS and other IdPs behind a private CA): the only roots for every
	// call to the IdP (discovery, keys, token, userinfo).
	CAFile string `yaml:"ca_file" path:"true"`
	// RootCAs is CAFile, parsed; nil without ca_file.
	RootCAs *x509.CertPool `yaml:"-"`
}

// Token endpoint client authentication methods (oidc.token_auth_method).
const (
	TokenAuthBasic = "client_secret_basic"
	TokenAuthPost  = "client_secret_post"
)

// Session configures where sessions live and the cookie that finds them.
type Session struct {
	// Store is cookie (the default: the sealed session in the browser) or
	// redis (the record on the server, an opaque id in the cookie).
	Store string `yaml:"store"`
	Redis Redis  `yaml:"redis"`
	// BackchannelLogout serves {prefix}/backchannel-logout; unset: whenever
	// the store is server-side. True with the cookie store is an error.
	BackchannelLogout *bool `yaml:"backchannel_logout"`
	// FrontchannelLogout serves {prefix}/frontchannel-logout (frontchannel.go).
	FrontchannelLogout FrontchannelLogout `yaml:"frontchannel_logout"`

	Secret              string   `yaml:"secret" secret:"true"`
	SecretFile          string   `yaml:"secret_file" path:"true"`
	PreviousSecrets     []string `yaml:"previous_secrets" secret:"true"`
	PreviousSecretFiles []string `yaml:"previous_secret_files" path:"true"`
	Lifetime            Duration `yaml:"lifetime"`
	CookieName          string   `yaml:"cookie_name"`
	CookieDomain        string   `yaml:"cookie_domain"`
	CookiePath          string   `yaml:"cookie_path"`
	// CookieSecure defaults to true when public_url is https; Secure holds
	// the decision.
	CookieSecure *bool `yaml:"cookie_secure"`
	// CookieHostPrefix puts "__Host-" before the cookie names whenever the
	// cookies allow it (Secure, no cookie_domain, cookie_path /): a sibling
	// subdomain then cannot plant a session cookie of ours.
	CookieHostPrefix bool `yaml:"cookie_host_prefix"`
	// RefreshInterval, when set, refreshes the session's tokens at the
	// provider this often (with a refresh token); otherwise they are
	// refreshed when the access token expires.
	RefreshInterval Duration `yaml:"refresh_interval"`

	// Keys holds the decoded secrets, current first.
	Keys [][]byte `yaml:"-"`
	// Secure says whether cookies carry the Secure attribute.
	Secure bool `yaml:"-"`
	// Name is the session cookie's name as sent: CookieName, with
	// "__Host-" in front when HostPrefix. Flow and chunk cookies start
	// with it too.
	Name       string `yaml:"-"`
	HostPrefix bool   `yaml:"-"`
}

// Redis is the server-side session store's connection.
type Redis struct {
	// URL is one node: redis://[user:password@]host:port[/db], rediss://
	// for TLS, or unix://. Addrs is the alternative for a Cluster (the
	// seed nodes) or, with MasterName, the Sentinels.
	URL          string   `yaml:"url"`
	Addrs        []string `yaml:"addrs"`
	MasterName   string   `yaml:"master_name"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password" secret:"true"`
	PasswordFile string   `yaml:"password_file" path:"true"`
	// TLS turns TLS on for Addrs (a URL says it with rediss://).
	TLS    bool   `yaml:"tls"`
	CAFile string `yaml:"ca_file" path:"true"`
	// TLSCertFile and TLSKeyFile are the client certificate and its key
	// (PEM), for a server that requires one (tls-auth-clients yes).
	TLSCertFile string `yaml:"tls_cert_file" path:"true"`
	TLSKeyFile  string `yaml:"tls_key_file" path:"true"`
	// KeyPrefix starts every key, so several proxies can share a Redis.
	KeyPrefix   string   `yaml:"key_prefix"`
	DialTimeout Duration `yaml:"dial_timeout"`
	// Timeout bounds each operation; a slower Redis counts as down.
	Timeout Duration `yaml:"timeout"`
	// CacheTTL bounds the client-side cache (server-assisted: Redis
	// invalidates a cached record the moment it changes); 0 turns it off.
	CacheTTL Duration `yaml:"cache_ttl"`

	// RootCAs is CAFile, parsed.
	RootCAs *x509.CertPool `yaml:"-"`
	// ClientCert is TLSCertFile and TLSKeyFile, loaded.
	ClientCert *tls.Certificate `yaml:"-"`
}

// Access decides who may reach the upstream.
type Access struct {
	Mode                string              `yaml:"mode"` // required or optional
	PublicPaths         []string            `yaml:"public_paths"`
	AllowedEmailDomains []string            `yaml:"allowed_email_domains"`
	RequiredGroups      []string            `yaml:"required_groups"`
	GroupsClaim         string              `yaml:"groups_claim"`
	RequiredClaims      map[string][]string `yaml:"required_claims"`
	// SilentSignIn sends the first page load of a browser session without
	// a session once through the IdP with prompt=none (mode optional only).
	SilentSignIn bool `yaml:"silent_sign_in"`

	// EmailDomains are AllowedEmailDomains in lower case without "@".
	EmailDomains []string `yaml:"-"`
}

// Headers controls identity headers toward the upstream.
type Headers struct {
	// Identity headers are only set when Pass is on; they are stripped from
	// incoming requests always.
	Pass              bool     `yaml:"pass"`
	User              string   `yaml:"user"`
	Email             string   `yaml:"email"`
	PreferredUsername string   `yaml:"preferred_username"`
	Groups            string   `yaml:"groups"`
	Strip             []string `yaml:"strip"`
}

// Token configures the Omnichannel chat token.
type Token struct {
	Issuer           string                 `yaml:"issuer"`
	Audience         string                 `yaml:"audience"`
	Lifetime         Duration               `yaml:"lifetime"`
	NotBeforeSkew    Duration               `yaml:"not_before_skew"`
	SubjectClaim     string                 `yaml:"subject_claim"`
	SigningKeys      []SigningKey           `yaml:"signing_keys"`
	RetiredKeyGrace  Duration               `yaml:"retired_key_grace"`
	KeyCheckInterval Duration               `yaml:"key_check_interval"`
	LWIContexts      map[string]ContextRule `yaml:"lwicontexts"`
	ContextURL       string                 `yaml:"context_url"`
	ContextTimeout   Duration               `yaml:"context_timeout"`
	// ContextKeys declares which keys of the context_url answer are taken, with their types.
	ContextKeys map[string]ContextRule `yaml:"context_keys"`
	// RateLimit is how many tokens one user may get per minute, after
	// a first RateBurst at once: signing is the expensive part of the
	// endpoint. 0 turns the limit off.
	RateLimit int `yaml:"rate_limit"`
	RateBurst int `yaml:"rate_burst"`
	// Contact makes sub the GUID of the user's Dataverse contact (or
	// account), found by a lookup at sign-in; off by default.
	Contact Contact `yaml:"contact"`
}

// SigningKey is one PEM private key file; the first configured key signs.
type SigningKey struct {
	File string `yaml:"file" path:"true"`
	Kid  string `yaml:"kid"`
}

// ContextRule maps identity claims to one lwicontexts value. Exactly one of
// Claim or Value is the source; Equals, Contains, Matches and OneOf turn the
// claim into a boolean (or into Then/Else when given); Map translates values.
type ContextRule struct {
	Claim    string         `yaml:"claim,omitempty"`
	Value    any            `yaml:"value,omitempty"`
	Equals   any            `yaml:"equals,omitempty"`
	Contains any            `yaml:"contains,omitempty"`
	Matches  string         `yaml:"matches,omitempty"`
	OneOf    []any          `yaml:"one_of,omitempty"`
	Then     any            `yaml:"then,omitempty"`
	Else     any            `yaml:"else,omitempty"`
	Map      map[string]any `yaml:"map,omitempty"`
	Type     string         `yaml:"type,omitempty"` // string (default), number, boolean
	Default  any            `yaml:"default,omitempty"`

	// Regexp is Matches, compiled.
	Regexp *regexp.Regexp `yaml:"-"`
}

// Inject configures the HTML injection of the bootstrap script.
type Inject struct {
	Enabled           bool     `yaml:"enabled"`
	ClientFunction    string   `yaml:"client_function"`
	OnUnauthenticated string   `yaml:"on_unauthenticated"` // empty (callback("")) or login
	SignedInOnly      bool     `yaml:"signed_in_only"`
	ExcludePaths      []string `yaml:"exclude_paths"`
	Widget            Widget   `yaml:"widget"`
	CSP               CSP      `yaml:"csp"`
}

// Widget is the Omnichannel live chat widget loader tag.
type Widget struct {
	Src        string            `yaml:"src"`
	AppID      string            `yaml:"app_id"`
	OrgID      string            `yaml:"org_id"`
	OrgURL     string            `yaml:"org_url"`
	LCWVersion string            `yaml:"lcw_version"`
	Attributes map[string]string `yaml:"attributes"` // extra data-* attributes
	// FallbackSrc is the loader's copy on Microsoft's regional storage
	// that the tag's onerror loads when Src fails, as Microsoft's embed
	// code does. Optional.
	FallbackSrc string `yaml:"fallback_src"`
	// Cloud picks the widget's host set (CloudPublic, CloudUSGov); empty
	// reads it from OrgURL's domain.
	Cloud string `yaml:"cloud"`
}

// CSP controls how injected scripts are allowed by a page's policy.
type CSP struct {
	// AllowWidget adds the widget's sources (WidgetCSP) to a page's policy.
	AllowWidget bool `yaml:"allow_widget"`
	// WidgetSources replaces the derived sources of the directives it
	// lists (keys from WidgetDirectives); an empty list adds nothing.
	WidgetSources map[string][]string `yaml:"widget_sources"`

	// Widget is WidgetCSP of inject.widget with WidgetSources applied.
	Widget WidgetSources `yaml:"-"`
}

// Duration is a time.Duration written as "10m" in YAML.
type Duration time.Duration

// D returns the standard library duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
