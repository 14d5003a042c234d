package config

import (
	"fmt"
	"net/url"
	"strings"
)

// FrontchannelLogout configures OpenID Connect Front-Channel Logout 1.0
// (session.frontchannel_logout): the IdP loads {prefix}/frontchannel-logout
// in an iframe of its own logout page, with the IdP session's sid, and the
// proxy ends the sessions of that sid. Microsoft Entra ID offers no other
// single logout.
type FrontchannelLogout struct {
	// Enabled serves {prefix}/frontchannel-logout (default on). With the
	// Redis store it ends every session of the sid on every replica; with
	// the cookie store only the cookie the browser sends in the IdP's
	// frame, which browsers send only when the IdP is on the same site.
	Enabled bool `yaml:"enabled"`
	// FrameAncestors are the origins (https://host[:port]) whose pages may
	// frame the answer. Empty: the issuer's origin, which is the logout
	// page's origin for Entra ID (login.microsoftonline.com) and most IdPs.
	FrameAncestors []string `yaml:"frame_ancestors"`

	// Ancestors is the answer's frame-ancestors source list: FrameAncestors
	// normalized, or the issuer's origin.
	Ancestors []string `yaml:"-"`
}

// provision derives Ancestors from frame_ancestors or, without it, from
// the issuer, and refuses anything that is not an origin: the values go
// into a Content-Security-Policy header, so nothing but scheme://host[:port]
// may pass.
func (f *FrontchannelLogout) provision(p *problems, issuer string) {
	f.Ancestors = nil
	if !f.Enabled {
		return
	}
	for i, s := range f.FrameAncestors {
		o, err := origin(s)
		if err != nil {
			p.add(fmt.Sprintf("session.frontchannel_logout.frame_ancestors[%d]", i), "%q %v: write the origin of the IdP's logout page, like https://login.microsoftonline.com", s, err)
			continue
		}
		f.Ancestors = append(f.Ancestors, o)
	}
	if len(f.FrameAncestors) > 0 {
		return
	}
	// An issuer that is not a URL is oidc.issuer's problem, reported there.
	if o, err := origin(issuer); err == nil {
		f.Ancestors = []string{o}
	}
}

// origin is u's scheme://host[:port], lower case, when u is an http(s) URL
// with a host, no user info and no wildcard. A path is allowed (an issuer
// has one) and dropped.
func origin(u string) (string, error) {
	v, err := url.Parse(u)
	switch {
	case err != nil:
		return "", fmt.Errorf("is not a URL")
	case v.Scheme != "https" && v.Scheme != "http":
		return "", fmt.Errorf("is not an http(s) origin")
	case v.Host == "" || v.User != nil || v.Opaque != "":
		return "", fmt.Errorf("has no plain host")
	case strings.ContainsAny(v.Host, "*;,' \t\"") || v.Hostname() == "":
		return "", fmt.Errorf("is not a single host")
	}
	return strings.ToLower(v.Scheme + "://" + v.Host), nil
}
