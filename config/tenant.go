package config

import (
	"net/url"
	"regexp"
	"strings"
)

// TenantIDPlaceholder stands, in oidc.issuer, for the tenant id of the
// token being verified (its tid claim), as in the issuer Microsoft Entra
// ID's multi-tenant discovery documents announce:
// https://login.microsoftonline.com/{tenantid}/v2.0.
const TenantIDPlaceholder = "{tenantid}"

// guidPattern is a GUID, the form of an Entra tenant id and of a
// Dataverse record id (lower case as they are written; upper case is
// accepted in configuration).
var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s is a GUID: a tenant id, a Dataverse record id.
func IsGUID(s string) bool { return guidPattern.MatchString(s) }

// IssuerTemplated reports whether the issuer names the token's tenant with
// TenantIDPlaceholder.
func (o *OIDC) IssuerTemplated() bool { return strings.Contains(o.Issuer, TenantIDPlaceholder) }

// DiscoveryDocumentURL is where the provider's discovery document is:
// oidc.discovery_url, or the spec's {issuer}/.well-known/openid-configuration.
func (o *OIDC) DiscoveryDocumentURL() string {
	if o.DiscoveryURL != "" {
		return o.DiscoveryURL
	}
	return strings.TrimSuffix(o.Issuer, "/") + "/.well-known/openid-configuration"
}

// validateTenants checks oidc.discovery_url, a {tenantid} in oidc.issuer
// and oidc.allowed_tenants.
func (o *OIDC) validateTenants(p *problems) {
	if o.DiscoveryURL != "" {
		if u, err := url.Parse(o.DiscoveryURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			p.add("oidc.discovery_url", "%q must be an absolute http or https URL, e.g. https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration", RedactURL(o.DiscoveryURL))
		}
	}
	if i := strings.Index(strings.ToLower(o.Issuer), TenantIDPlaceholder); i >= 0 && !o.IssuerTemplated() {
		p.add("oidc.issuer", "write the placeholder %s in lower case, as Entra ID's discovery document does (got %q)", TenantIDPlaceholder, o.Issuer[i:i+len(TenantIDPlaceholder)])
	}
	if o.IssuerTemplated() {
		o.validateIssuerTemplate(p)
	}
	if len(o.AllowedTenants) > 0 && !o.IssuerTemplated() {
		p.add("oidc.allowed_tenants", "applies only to an oidc.issuer with %s (Entra ID multi-tenant: https://login.microsoftonline.com/%s/v2.0); with one tenant's issuer, remove it",
			TenantIDPlaceholder, TenantIDPlaceholder)
	}
	for i, t := range o.AllowedTenants {
		if !IsGUID(t) {
			p.add("oidc.allowed_tenants", "entry %d (%q) is not a tenant id: use the Directory (tenant) ID GUID from the tenant's Overview page, e.g. 00000000-0000-0000-0000-0000000000aa", i, t)
		}
	}
}

// validateIssuerTemplate checks an issuer with TenantIDPlaceholder: once,
// in the path, and a discovery_url to find the document (the issuer with
// the placeholder is no URL the provider serves, and which of /common,
// /organizations or /consumers is meant cannot be guessed).
func (o *OIDC) validateIssuerTemplate(p *problems) {
	const example = "https://login.microsoftonline.com/" + TenantIDPlaceholder + "/v2.0"
	u, err := url.Parse(o.Issuer)
	switch {
	case strings.Count(o.Issuer, TenantIDPlaceholder) != 1:
		p.add("oidc.issuer", "%q must contain %s once, e.g. %s", o.Issuer, TenantIDPlaceholder, example)
	case err != nil || u.Host == "":
		// Reported by validate.
	case strings.Contains(u.Host, "{") || u.RawQuery != "" || u.Fragment != "" || !strings.Contains(u.Path, TenantIDPlaceholder):
		p.add("oidc.issuer", "%q may contain %s only in its path, e.g. %s", o.Issuer, TenantIDPlaceholder, example)
	}
	if o.DiscoveryURL == "" {
		p.add("oidc.discovery_url", "is required with %s in oidc.issuer: the discovery document of the multi-tenant endpoint, e.g. https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration (work and school accounts) or …/common/v2.0/… (personal Microsoft accounts too)", TenantIDPlaceholder)
	}
}
