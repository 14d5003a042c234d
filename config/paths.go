package config

// Paths are the proxy's own endpoints under the prefix. Provisioning
// derives them once from Prefix (Config.Paths), so that the routes, the
// links the proxy hands out (the redirect URI, the bootstrap script's URLs,
// the sign-in the policy sends visitors to) and everything else that names
// an endpoint read one value instead of joining strings of their own.
//
// The part after Prefix+"/" is the endpoint's route name in metrics and
// spans, so renaming a path renames a dashboard series.
type Paths struct {
	// Prefix is the prefix itself, without a trailing slash ("/_lcw").
	Prefix string

	Login, Callback, Silent, Logout, BackchannelLogout string
	Token, Session                                     string
	PublicKeyPEM, PublicKeys, JWKS                     string
	// Auth is forward auth; Envoy's ext_authz appends the original path.
	Auth                    string
	Bootstrap, ClientEvents string
	Healthz, Readyz         string

	// FrontchannelLogout is loaded by the IdP in an iframe.
	FrontchannelLogout string
}

// NewPaths derives the endpoints under prefix (no trailing slash).
func NewPaths(prefix string) Paths {
	at := func(name string) string { return prefix + "/" + name }
	return Paths{
		Prefix:            prefix,
		Login:             at("login"),
		Callback:          at("callback"),
		Silent:            at("silent"),
		Logout:            at("logout"),
		BackchannelLogout: at("backchannel-logout"),
		Token:             at("token"),
		Session:           at("session"),
		PublicKeyPEM:      at("public-key.pem"),
		PublicKeys:        at("public-keys"),
		JWKS:              at("jwks.json"),
		Auth:              at("auth"),
		Bootstrap:         at("bootstrap.js"),
		ClientEvents:      at("client-events"),
		Healthz:           at("healthz"),
		Readyz:            at("readyz"),

		FrontchannelLogout: at("frontchannel-logout"),
	}
}
