package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// token.contact: every mistake names its key and the fix; a good section
// derives the token URL (from the tenant) and the scope once.
func TestContactValidation(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "dv-secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := func() Contact {
		c := Default().Token.Contact
		c.OrgURL = "https://contoso.crm4.dynamics.com/"
		c.TenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
		c.ClientID = "00000000-0000-0000-0000-00000000000a"
		c.ClientSecretFile = secret
		return c
	}
	for _, tt := range []struct {
		name string
		edit func(*Contact)
		want string // "" = valid
	}{
		{"good", func(*Contact) {}, ""},
		{"off with nothing set", func(c *Contact) { *c = Default().Token.Contact }, ""},
		{"client_id without org_url", func(c *Contact) { c.OrgURL = "" }, "token.contact.org_url: is required"},
		{"http org_url", func(c *Contact) { c.OrgURL = "http://contoso.crm.dynamics.com" }, "token.contact.org_url: \"http://contoso.crm.dynamics.com\" must use https"},
		{"http on loopback (tests)", func(c *Contact) { c.OrgURL = "http://127.0.0.1:8443" }, ""},
		{"org_url with a path", func(c *Contact) { c.OrgURL = "https://contoso.crm.dynamics.com/api/data/v9.2" }, "without a path"},
		{"org_url with credentials", func(c *Contact) { c.OrgURL = "https://u:p@contoso.crm.dynamics.com" }, "must not carry credentials"},
		{"relative org_url", func(c *Contact) { c.OrgURL = "contoso.crm.dynamics.com" }, "is not an absolute URL"},
		{"no tenant", func(c *Contact) { c.TenantID = "" }, "token.contact.tenant_id: is required"},
		{"bad tenant", func(c *Contact) { c.TenantID = "a/b" }, "token.contact.tenant_id: \"a/b\" is not a tenant"},
		{"token_url instead of tenant", func(c *Contact) { c.TenantID, c.TokenURL = "", "https://login.microsoftonline.us/t/oauth2/v2.0/token" }, ""},
		{"http token_url", func(c *Contact) { c.TokenURL = "http://login.example/token" }, "token.contact.token_url: \"http://login.example/token\" must use https"},
		{"no client_id", func(c *Contact) { c.ClientID = "" }, "token.contact.client_id: is required"},
		{"no secret", func(c *Contact) { c.ClientSecretFile = "" }, "token.contact.client_secret: is required"},
		{"unreadable secret", func(c *Contact) { c.ClientSecretFile = filepath.Join(dir, "missing") }, "token.contact.client_secret_file: cannot read"},
		{"secret twice", func(c *Contact) { c.ClientSecret = "inline" }, "token.contact.client_secret: is set both inline and as token.contact.client_secret_file"},
		{"bad table", func(c *Contact) { c.Table = "contacts" }, "token.contact.table: \"contacts\": use contact (default) or account"},
		{"bad column", func(c *Contact) { c.Match.Column = "emailaddress1 eq 'x' or true" }, "token.contact.match.column"},
		{"no claim", func(c *Contact) { c.Match.Claim = "" }, "token.contact.match.claim: is required"},
		{"bad on_no_match", func(c *Contact) { c.OnNoMatch = "guess" }, "token.contact.on_no_match: \"guess\""},
		{"create for accounts", func(c *Contact) { c.Table, c.OnNoMatch = TableAccount, NoMatchCreate }, "create works with table: contact only"},
		{"create columns", func(c *Contact) {
			c.OnNoMatch, c.Create = NoMatchCreate, map[string]string{"firstname": "given_name", "lastname": "family_name"}
		}, ""},
		{"create column not a name", func(c *Contact) { c.OnNoMatch, c.Create = NoMatchCreate, map[string]string{"First Name": "given_name"} }, "token.contact.create.First Name: is not a column"},
		{"create the match column", func(c *Contact) { c.OnNoMatch, c.Create = NoMatchCreate, map[string]string{"emailaddress1": "email"} }, "token.contact.create.emailaddress1: is the match column"},
		{"create without create", func(c *Contact) { c.Create = map[string]string{"firstname": "given_name"} }, "token.contact.create: is only used with on_no_match: create"},
		{"subject_context taken", func(c *Contact) { c.SubjectContext = "customer_email" }, "token.contact.subject_context: \"customer_email\" is also a token.lwicontexts key"},
		{"timeout", func(c *Contact) { c.Timeout = Duration(time.Minute) }, "token.contact.timeout: 1m0s is out of range"},
		{"recheck", func(c *Contact) { c.Recheck = Duration(time.Second) }, "token.contact.recheck: 1s is out of range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.edit(&c)
			p := &problems{}
			c.provision(p)
			c.validate(p, map[string]ContextRule{"customer_email": {Claim: "email"}})
			err := p.err(func(k string) string { return k })
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if tt.name == "good" {
				if c.TokenEndpoint != "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token" {
					t.Errorf("token endpoint %q", c.TokenEndpoint)
				}
				if c.Scope != "https://contoso.crm4.dynamics.com/.default" || c.Org != "https://contoso.crm4.dynamics.com" {
					t.Errorf("scope %q, org %q", c.Scope, c.Org)
				}
				if c.ClientSecret != "s3cret" {
					t.Errorf("secret %q: read from the file, trimmed", c.ClientSecret)
				}
			}
		})
	}
}

// The section loads from YAML and the environment like every other.
func TestContactLoads(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "dv")
	os.WriteFile(secret, []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte("placeholder: read by auth/keys"), 0o600)
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte(tracingBase+`token:
  issuer: shop.example.com
  signing_keys: [{file: key.pem}]
  contact:
    org_url: https://contoso.crm.dynamics.com
    tenant_id: contoso.onmicrosoft.com
    client_id: app
    client_secret_file: dv
    match: { claim: customer_no, column: cr123_customernumber }
`), 0o600)
	env := map[string]string{"LCW_TOKEN_CONTACT_SUBJECT_CONTEXT": "idp_subject"}
	cfg, err := Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Token.Contact
	if !c.Enabled() || c.Match.Column != "cr123_customernumber" || c.SubjectContext != "idp_subject" || c.ClientSecret != "x" || c.Table != TableContact {
		t.Fatalf("loaded %+v", c)
	}
}

// Certificate credentials instead of a secret: both files, a matching
// RSA pair, never together with a secret.
func TestContactCertificate(t *testing.T) {
	certFile, keyFile, _ := testenv.AppCertificate(t)
	otherCert, _, _ := testenv.AppCertificate(t)
	for _, tt := range []struct {
		name, cert, key, secret, want string
	}{
		{"certificate and key", certFile, keyFile, "", ""},
		{"and a secret", certFile, keyFile, "s", "token.contact.client_secret: and token.contact.client_certificate_file are both set"},
		{"no key", certFile, "", "", "token.contact.client_key_file: is required with client_certificate_file"},
		{"no certificate", "", keyFile, "", "token.contact.client_certificate_file: is required with client_key_file"},
		{"a key of another certificate", otherCert, keyFile, "", "token.contact.client_certificate_file: with " + keyFile},
		{"unreadable", certFile + ".missing", keyFile, "", "token.contact.client_certificate_file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Default().Token.Contact
			c.OrgURL, c.TenantID, c.ClientID = "https://contoso.crm.dynamics.com", "contoso.onmicrosoft.com", "app"
			c.ClientCertificateFile, c.ClientKeyFile, c.ClientSecret = tt.cert, tt.key, tt.secret
			p := &problems{}
			c.provision(p)
			c.validate(p, nil)
			err := p.err(func(k string) string { return k })
			switch {
			case tt.want == "" && (err != nil || c.Certificate == nil || c.Certificate.Leaf == nil):
				t.Fatalf("error %v, certificate %v", err, c.Certificate)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
