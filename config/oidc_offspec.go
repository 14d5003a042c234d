package config

import (
	"crypto/tls"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// LogoutPlaceholders are what oidc.logout_url may contain; each is
// replaced by its value, query-escaped, when a user logs out.
var LogoutPlaceholders = []string{"{client_id}", "{post_logout_redirect_uri}", "{id_token_hint}"}

var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

// provisionCA reads oidc.ca_file once, with the reader every CA file of
// the configuration goes through.
func (o *OIDC) provisionCA(p *problems) {
	o.RootCAs = readCAFile(p, "oidc.ca_file", o.CAFile,
		"give the CA certificate (-----BEGIN CERTIFICATE-----) that signed the OpenID provider's certificate, e.g. the ADFS service communication certificate's root")
}

// TLSConfig is the TLS client configuration toward the IdP: RootCAs as the
// only roots, nil (the system's roots) without oidc.ca_file. The relying
// party and check-config --online both use it.
func (o *OIDC) TLSConfig() *tls.Config {
	if o.RootCAs == nil {
		return nil
	}
	return &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
}

// validateLogoutURL checks oidc.logout_url: known placeholders only, and
// an absolute https URL once they are filled in (http only on loopback,
// for tests and local IdPs).
func (o *OIDC) validateLogoutURL(p *problems) {
	if o.LogoutURL == "" {
		return
	}
	const key = "oidc.logout_url"
	known := strings.Join(LogoutPlaceholders, ", ")
	for _, ph := range placeholderRE.FindAllString(o.LogoutURL, -1) {
		if !slices.Contains(LogoutPlaceholders, ph) {
			p.add(key, "has the unknown placeholder %s: use only %s", ph, known)
			return
		}
	}
	filled := placeholderRE.ReplaceAllString(o.LogoutURL, "x")
	u, err := url.Parse(filled)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		p.add(key, "%q must be an absolute https URL, e.g. https://{domain}.auth.{region}.amazoncognito.com/logout?client_id={client_id}&logout_uri={post_logout_redirect_uri} (with your domain and region)", RedactURL(o.LogoutURL))
		return
	}
	if u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
		p.add(key, "%q must use https: the logout request carries the ID token (http only for loopback addresses)", RedactURL(o.LogoutURL))
	}
	if u.User != nil {
		p.add(key, "must not carry credentials (user:password@); the IdP's logout takes none")
	}
}

// IsLoopbackHost reports whether host is localhost or a loopback address.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
