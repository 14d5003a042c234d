package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// FrontchannelLogout configures OpenID Connect Front-Channel Logout 1.0
// (session.frontchannel_logout): the IdP loads {prefix}/frontchannel-logout
// in an iframe of its own logout page, with the IdP session's sid, and the
// proxy ends the sessions of that sid. Microsoft Entra ID offers no other
// single logout.
type FrontchannelLogout struct {
	// Enabled serves {prefix}/frontchannel-logout. Unset: when the IdP's
	// discovery document says frontchannel_logout_supported: true (Entra
	// ID's does), so the endpoint exists only where an IdP may call it;
	// true: always (an IdP that supports it without saying so); false:
	// never (404). With the Redis store it ends every session of the sid
	// on every replica; with the cookie store only the cookie the browser
	// sends in the IdP's frame, which browsers send only when the IdP is
	// on the same site.
	Enabled *bool `yaml:"enabled"`
	// FrameAncestors are the origins (https://host[:port]) whose pages may
	// frame the answer, besides the issuer's origin and oidc.discovery_url's
	// (the logout page's origin for Entra ID, login.microsoftonline.com, and
	// most IdPs; Entra External ID's is the discovery document's
	// contoso.ciamlogin.com, not its issuer's {tenant id}.ciamlogin.com).
	FrameAncestors []string `yaml:"frame_ancestors"`

	// Ancestors is the answer's frame-ancestors source list: the issuer's
	// origin, oidc.discovery_url's, then FrameAncestors normalized.
	Ancestors []string `yaml:"-"`
}

// Off reports whether front-channel logout was turned off outright.
func (f *FrontchannelLogout) Off() bool { return f.Enabled != nil && !*f.Enabled }

// provision derives Ancestors from the IdP's URLs (oidc.issuer and
// oidc.discovery_url) and frame_ancestors, and refuses anything in
// frame_ancestors that is not an origin: the values go into a
// Content-Security-Policy header, so nothing but scheme://host[:port] may
// pass.
func (f *FrontchannelLogout) provision(p *problems, idpURLs ...string) {
	f.Ancestors = nil
	if f.Off() {
		return
	}
	// A URL that does not parse (or is unset) is oidc's problem, reported
	// there.
	for _, u := range idpURLs {
		if o, err := issuerOrigin(u); err == nil && !slices.Contains(f.Ancestors, o) {
			f.Ancestors = append(f.Ancestors, o)
		}
	}
	for i, s := range f.FrameAncestors {
		o, err := frameAncestor(s)
		if err != nil {
			p.add(fmt.Sprintf("session.frontchannel_logout.frame_ancestors[%d]", i), "%q %v: write the origin of the IdP's logout page alone, like https://login.microsoftonline.com", s, err)
			continue
		}
		if !slices.Contains(f.Ancestors, o) {
			f.Ancestors = append(f.Ancestors, o)
		}
	}
}

// issuerOrigin is an issuer's (or discovery document's) URL's
// scheme://host[:port], lower case; the path (an issuer has one, maybe
// with {tenantid}) is dropped.
func issuerOrigin(issuer string) (string, error) {
	v, err := url.Parse(issuer)
	if err != nil || (v.Scheme != "https" && v.Scheme != "http") || v.Host == "" || strings.ContainsAny(v.Host, "*{}") {
		return "", fmt.Errorf("not an http(s) URL with a host")
	}
	return strings.ToLower(v.Scheme + "://" + v.Host), nil
}

// frameAncestor checks one frame_ancestors entry: an https origin (http
// only on loopback) with nothing else, no path, no user info and no
// wildcard (a CSP source may have one; an IdP's logout page is one origin).
func frameAncestor(s string) (string, error) {
	v, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("is not a URL")
	case v.Scheme != "https" && !(v.Scheme == "http" && IsLoopbackHost(v.Hostname())):
		return "", fmt.Errorf("is not an https origin (http only for loopback addresses)")
	case v.Host == "" || v.Hostname() == "" || v.User != nil || v.Opaque != "":
		return "", fmt.Errorf("has no plain host")
	case strings.ContainsAny(v.Host, "*;,'\" \t{}"):
		return "", fmt.Errorf("is not a single host (no wildcards)")
	case (v.Path != "" && v.Path != "/") || v.RawQuery != "" || v.ForceQuery || v.Fragment != "":
		return "", fmt.Errorf("has a path, query or fragment")
	}
	return strings.ToLower(v.Scheme + "://" + v.Host), nil
}
