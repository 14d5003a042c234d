// Package testenv starts the real servers that tests of the proxy run
// against: an OpenID provider (internal/devidp, the zitadel/oidc provider,
// in process on loopback), a cookie-jar HTTP client that completes its
// login form, and a headless Chromium driven through chromedp.
package testenv

import (
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
)

// Defaults of OPOptions.
const (
	DefaultClientID     = devidp.DefaultClientID
	DefaultClientSecret = devidp.DefaultClientSecret
)

// OPOptions configures StartOP (see devidp.Options). The zero value is a
// working provider with devidp.DefaultUsers and a client that has no registered
// redirect URIs.
type OPOptions = devidp.Options

// OP is a running OpenID provider (see devidp.Provider): its Issuer, Addr,
// ClientID, ClientSecret and Users, Stop and DiscoveryURL.
type OP = devidp.Provider

// StartOP starts an OpenID provider on loopback and stops it when the test
// ends; any problem starting it fails the test. Its login page is
// GET /login/username?authRequestID=… and takes a form POST of id, username
// and password (see Login). Unless opts.Logger is set, the provider's
// development-only warning is not logged.
func StartOP(t testing.TB, opts OPOptions) *OP {
	t.Helper()
	o, err := devidp.Start(opts)
	if err != nil {
		t.Fatalf("testenv.StartOP: %v", err)
	}
	t.Cleanup(o.Stop)
	return o
}
