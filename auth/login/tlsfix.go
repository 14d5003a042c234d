package login

import (
	"crypto/x509"
	"errors"
)

// tlsFix names the fix for an IdP certificate the proxy does not trust
// (x509: unknown authority), empty for any other error: a private CA
// (ADFS, an internal Keycloak) is the usual cause, and oidc.ca_file the
// cure. withCA says whether oidc.ca_file is already set (then it holds
// the wrong CA).
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
