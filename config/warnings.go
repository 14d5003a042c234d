package config

import (
	"fmt"
	"net"
	"net/netip"
)

// Warnings are what a valid configuration still gets wrong for the common
// case, said at start-up and by check-config: nothing here stops the
// proxy, since a load balancer or port mapping the config cannot see may
// make it right.
func (c *Config) Warnings() []string {
	var out []string
	host := c.Public.Hostname()
	loopback := IsLoopbackHost(host)
	if ct := c.Token.Contact; ct.Enabled() && c.OIDC.AllowUnverifiedEmail && (ct.Match.Claim == "email" || ct.Match.Claim == "emails") {
		out = append(out, "token.contact matches the email claim while oidc.allow_unverified_email is on: a user who registers someone else's address unverified at the IdP would chat as that customer's contact; match a claim the IdP verifies, or turn allow_unverified_email off")
	}
	if c.Public.Scheme == "http" && !loopback {
		out = append(out, fmt.Sprintf("public_url %s is plain http on a host that is not loopback: cookies are not Secure and sign-in travels in clear; plain http is for testing on 127.0.0.1 only — use https (the proxy's own server.tls_cert_file, or TLS at a load balancer in front)", c.PublicURL))
	}
	if !loopback || len(c.TrustedProxies) > 0 {
		return out // something in front may map the port
	}
	lhost, lport, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return out
	}
	port := c.Public.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[c.Public.Scheme]
	}
	switch {
	case lport == "0": // a free port, chosen at start (tests)
	case lport != port:
		out = append(out, fmt.Sprintf("listen %s is on port %s, but public_url %s points at port %s and no trusted_proxies are set: browsers will not reach the proxy; set listen: 127.0.0.1:%s", c.Listen, lport, c.PublicURL, port, port))
	case lhost != "" && !IsLoopbackHost(lhost) && !isUnspecified(lhost):
		out = append(out, fmt.Sprintf("listen %s is not on loopback, but public_url %s is: browsers will not reach the proxy; set listen: 127.0.0.1:%s", c.Listen, c.PublicURL, port))
	}
	return out
}

func isUnspecified(h string) bool {
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsUnspecified()
}
