package login

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// DiscoveryFix names the fix for a failed discovery (err from Discover):
// what serve logs beside each retry and check-config --online prints, so a
// newcomer reads the same advice in both. An issuer that differs from the
// provider's own only by a trailing slash is the classic (Ory Hydra names
// itself without one, Auth0 with one); a private CA (ADFS, an internal
// Keycloak) the next.
func DiscoveryFix(o config.OIDC, err error) string {
	var mismatch *oidc.IssuerMismatchError
	var nerr net.Error
	switch {
	case errors.As(err, &mismatch) && o.IssuerTemplated():
		return fmt.Sprintf("the document at oidc.discovery_url names the issuer %q, which is neither oidc.issuer nor one tenant's issuer of it: set oidc.issuer to that template (Entra ID multi-tenant: https://login.microsoftonline.com/%s/v2.0)", mismatch.Discovered, config.TenantIDPlaceholder)
	case errors.As(err, &mismatch):
		return fmt.Sprintf("set oidc.issuer to %q, exactly as the provider names itself (a trailing slash counts)", mismatch.Discovered)
	}
	if fix := tlsFix(err, o.CAFile != ""); fix != "" {
		return fix
	}
	switch {
	case errors.As(err, &nerr):
		return fmt.Sprintf("check that the provider is reachable from here (DNS, firewall, proxy) and that %s is its URL", DiscoveryKey(o))
	case o.DiscoveryURL != "":
		return "check oidc.discovery_url: it must be the provider's discovery document (…/.well-known/openid-configuration)"
	}
	return "check oidc.issuer: the provider serves ISSUER/.well-known/openid-configuration"
}

// DiscoveryKey is the configuration key a failed discovery is about.
func DiscoveryKey(o config.OIDC) string {
	if o.DiscoveryURL != "" {
		return "oidc.discovery_url"
	}
	return "oidc.issuer"
}

// tlsFix names the fix for an IdP certificate the proxy does not trust,
// empty for any other error. withCA says whether oidc.ca_file is already
// set (then it holds the wrong CA).
func tlsFix(err error, withCA bool) string {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown) && withCA:
		return "x509: the provider's certificate is not signed by a CA in oidc.ca_file; put the CA that signed it (its root, PEM) in that file"
	case errors.As(err, &unknown):
		return "x509: the provider's certificate is signed by a CA this host does not trust (a private CA, as ADFS often has); set oidc.ca_file to that CA's certificate (PEM)"
	case errors.As(err, &invalid):
		return "x509: the provider's certificate is invalid (" + invalid.Error() + "); renew it at the provider"
	case errors.As(err, &host):
		return "x509: the provider's certificate does not name the host of oidc.issuer; use the issuer URL its certificate is for"
	}
	return ""
}
