package config

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Contact links each signed-in user to their Dataverse contact (or
// account): at sign-in, and at a refresh when due, the proxy looks the
// record up through the Dataverse Web API with an app token from Entra ID's
// client-credentials flow, and the record's GUID becomes the chat token's
// sub. Omnichannel links a conversation to the record only then. Off while
// OrgURL is empty.
type Contact struct {
	// OrgURL is the Dataverse environment, https://ORG.crm.dynamics.com.
	OrgURL string `yaml:"org_url"`
	// TenantID is the Entra ID tenant of the app registration (its GUID or
	// a verified domain); the token URL is derived from it.
	TenantID string `yaml:"tenant_id"`
	// TokenURL overrides the derived
	// https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token
	// (sovereign clouds, tests).
	TokenURL         string `yaml:"token_url"`
	ClientID         string `yaml:"client_id"`
	ClientSecret     string `yaml:"client_secret" secret:"true"`
	ClientSecretFile string `yaml:"client_secret_file" path:"true"`
	// ClientCertificateFile and ClientKeyFile, instead of a secret: the
	// app registration's certificate (PEM) and its RSA private key, which
	// sign a client assertion for each token request.
	ClientCertificateFile string `yaml:"client_certificate_file" path:"true"`
	ClientKeyFile         string `yaml:"client_key_file" path:"true"`
	// Table is contact (default) or account.
	Table string `yaml:"table"`
	// Match says which verified claim is compared with which column.
	Match ContactMatch `yaml:"match"`
	// OnNoMatch is subject (default: sub stays the IdP's subject) or
	// create (a new contact from Create's columns).
	OnNoMatch string `yaml:"on_no_match"`
	// Create maps the new contact's columns to claims (with create); the
	// match column is always set from the matched value.
	Create map[string]string `yaml:"create"`
	// SubjectContext, when set, is the lwicontexts key that carries the
	// IdP's subject (token.subject_claim) once sub is the record's GUID.
	SubjectContext string `yaml:"subject_context"`
	// Timeout bounds one lookup (token and Web API calls together); past
	// it the sign-in goes on with the fallback.
	Timeout Duration `yaml:"timeout"`
	// Recheck is how long a lookup's answer stands before a refresh looks
	// again (0: never again in the session). A failed lookup is retried
	// at the next refresh whatever this says.
	Recheck Duration `yaml:"recheck"`

	// TokenEndpoint is TokenURL or the one derived from TenantID; Scope
	// is {org_url}/.default; Org is OrgURL without a trailing slash.
	TokenEndpoint string `yaml:"-"`
	Scope         string `yaml:"-"`
	Org           string `yaml:"-"`
	// Certificate is the certificate and key pair read from
	// ClientCertificateFile and ClientKeyFile (nil with a secret).
	Certificate *tls.Certificate `yaml:"-"`
}

// ContactMatch is the claim compared with a column of the table.
type ContactMatch struct {
	Claim  string `yaml:"claim"`
	Column string `yaml:"column"`
}

// Tables a contact lookup may search, and what a lookup does when it
// finds nothing.
const (
	TableContact     = "contact"
	TableAccount     = "account"
	NoMatchSubject   = "subject"
	NoMatchCreate    = "create"
	entraTokenURLFmt = "https://login.microsoftonline.com/%s/oauth2/v2.0/token"
)

// Enabled reports whether the lookup is configured.
func (c *Contact) Enabled() bool { return c.OrgURL != "" }

// columnRE is a Dataverse column's logical name: lower case, as the Web
// API's $filter and $select take it (custom columns carry a publisher
// prefix, e.g. cr123_customernumber).
var columnRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,99}$`)

// tenantRE is a tenant GUID or a domain name.
var tenantRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,250}[A-Za-z0-9])?$`)

// IsColumnName reports whether s is a Dataverse column logical name.
func IsColumnName(s string) bool { return columnRE.MatchString(s) }

func (c *Contact) provision(p *problems) {
	if !c.Enabled() {
		return
	}
	c.ClientSecret = readSecret(p, "token.contact.client_secret", c.ClientSecret, c.ClientSecretFile)
	c.provisionCertificate(p)
	c.Org = strings.TrimSuffix(c.OrgURL, "/")
	c.Scope = c.Org + "/.default"
	c.TokenEndpoint = c.TokenURL
	if c.TokenEndpoint == "" && tenantRE.MatchString(c.TenantID) {
		c.TokenEndpoint = fmt.Sprintf(entraTokenURLFmt, url.PathEscape(c.TenantID))
	}
}

func (c *Contact) validate(p *problems, lwicontexts map[string]ContextRule) {
	const k = "token.contact."
	if !c.Enabled() {
		if c.ClientID != "" || c.TenantID != "" || c.TokenURL != "" || c.ClientSecretFile != "" || c.ClientSecret != "" {
			p.add(k+"org_url", "is required with the other token.contact keys: the Dataverse environment, e.g. https://contoso.crm.dynamics.com")
		}
		return
	}
	checkServiceURL(p, k+"org_url", c.OrgURL, true, "the Dataverse environment's URL, e.g. https://contoso.crm.dynamics.com (Power Platform admin center → the environment → Environment URL)")
	switch {
	case c.TokenURL != "":
		checkServiceURL(p, k+"token_url", c.TokenURL, false, "the token endpoint, e.g. https://login.microsoftonline.com/TENANT/oauth2/v2.0/token")
	case c.TenantID == "":
		p.add(k+"tenant_id", "is required: the Entra ID tenant of the app registration (its Directory (tenant) ID, a GUID), or set token.contact.token_url")
	case !tenantRE.MatchString(c.TenantID):
		p.add(k+"tenant_id", "%q is not a tenant: use the Directory (tenant) ID (a GUID) or a verified domain such as contoso.onmicrosoft.com", c.TenantID)
	}
	if c.ClientID == "" {
		p.add(k+"client_id", "is required: the Application (client) ID of the app registration that is Dataverse's application user")
	}
	hasSecret, hasCert := c.ClientSecret != "" || c.ClientSecretFile != "", c.ClientCertificateFile != "" || c.ClientKeyFile != ""
	switch {
	case hasSecret && hasCert:
		p.add(k+"client_secret", "and token.contact.client_certificate_file are both set: the app authenticates with one; keep one")
	case !hasSecret && !hasCert:
		p.add(k+"client_secret", "is required (prefer token.contact.client_secret_file), or client_certificate_file with client_key_file: the app registration's credential")
	}
	switch c.Table {
	case TableContact, TableAccount:
	default:
		p.add(k+"table", "%q: use contact (default) or account", c.Table)
	}
	if strings.TrimSpace(c.Match.Claim) == "" {
		p.add(k+"match.claim", "is required: the verified claim to look the record up by (default email)")
	}
	if !IsColumnName(c.Match.Column) {
		p.add(k+"match.column", "%q is not a column's logical name: lower case letters, digits and _, e.g. emailaddress1 or cr123_customernumber", c.Match.Column)
	}
	switch c.OnNoMatch {
	case NoMatchSubject:
		if len(c.Create) > 0 {
			p.add(k+"create", "is only used with on_no_match: create; set that or remove create")
		}
	case NoMatchCreate:
		if c.Table != TableContact {
			p.add(k+"on_no_match", "create works with table: contact only; an account needs more than a signed-in person's claims")
		}
		for _, col := range slices.Sorted(maps.Keys(c.Create)) {
			switch {
			case !IsColumnName(col):
				p.add(k+"create."+col, "is not a column's logical name: lower case letters, digits and _, e.g. firstname")
			case col == c.Match.Column:
				p.add(k+"create."+col, "is the match column, which a new contact always gets from the matched value; remove it")
			case strings.TrimSpace(c.Create[col]) == "":
				p.add(k+"create."+col, "needs a claim, e.g. firstname: given_name")
			}
		}
	default:
		p.add(k+"on_no_match", "%q: use subject (default: sub stays the IdP's subject) or create (a new contact)", c.OnNoMatch)
	}
	if s := c.SubjectContext; s != "" {
		if utf8.RuneCountInString(s) > MaxContextKeyName {
			p.add(k+"subject_context", "context key names must be 1 to %d characters (Omnichannel's limit)", MaxContextKeyName)
		}
		if _, taken := lwicontexts[s]; taken {
			p.add(k+"subject_context", "%q is also a token.lwicontexts key; use another name", s)
		}
	}
	if c.Timeout <= 0 || c.Timeout.D() > 10*time.Second {
		p.add(k+"timeout", "%s is out of range: use more than 0 and at most 10s (default %s); sign-in waits this long at most", c.Timeout.D(), DurationText(Default().Token.Contact.Timeout.D()))
	}
	if c.Recheck < 0 || (c.Recheck > 0 && c.Recheck.D() < time.Minute) {
		p.add(k+"recheck", "%s is out of range: use 0 (never) or at least 1m (default %s)", c.Recheck.D(), DurationText(Default().Token.Contact.Recheck.D()))
	}
}

// checkServiceURL requires an absolute https URL (http only on loopback,
// for tests), without credentials, query or fragment; bare, an origin
// (no path).
func checkServiceURL(p *problems, key, raw string, bare bool, what string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		p.add(key, "%q is not an absolute URL: %s", RedactURL(raw), what)
	case u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackHost(u.Hostname())):
		p.add(key, "%q must use https: the app token and customers' data travel on it (http only for loopback addresses)", RedactURL(raw))
	case u.User != nil:
		p.add(key, "must not carry credentials (user:password@); give the secret in token.contact.client_secret_file")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		p.add(key, "%q must not have a query or fragment: %s", RedactURL(raw), what)
	case bare && u.Path != "" && u.Path != "/":
		p.add(key, "%q must be the environment's URL without a path: %s", RedactURL(raw), what)
	}
}

// provisionCertificate reads the app registration's certificate and key:
// both files, a pair that matches, an RSA key of at least 2048 bits (the
// assertion is signed RS256, as Entra ID accepts).
func (c *Contact) provisionCertificate(p *problems) {
	const k = "token.contact.client_"
	switch {
	case c.ClientCertificateFile == "" && c.ClientKeyFile == "":
		return
	case c.ClientKeyFile == "":
		p.add(k+"key_file", "is required with client_certificate_file: the certificate's private key (PEM)")
		return
	case c.ClientCertificateFile == "":
		p.add(k+"certificate_file", "is required with client_key_file: the certificate uploaded to the app registration (PEM)")
		return
	}
	pair, err := tls.LoadX509KeyPair(c.ClientCertificateFile, c.ClientKeyFile)
	if err != nil {
		p.add(k+"certificate_file", "with %s: %v; give the PEM certificate uploaded to the app registration and its private key", c.ClientKeyFile, err)
		return
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok || key.N.BitLen() < 2048 {
		p.add(k+"key_file", "%s must be an RSA private key of at least 2048 bits", c.ClientKeyFile)
		return
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			p.add(k+"certificate_file", "%s: %v", c.ClientCertificateFile, err)
			return
		}
	}
	c.Certificate = &pair
}
