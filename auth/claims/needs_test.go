package claims

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// loadExample loads a file of deploy/examples the way serve does, with its
// secrets from the environment.
func loadExample(t *testing.T, file string) *config.Config {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	files := map[string][]byte{
		"signing.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"client":      []byte("s"),
		"cookie":      []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"LCW_OIDC_CLIENT_SECRET_FILE": filepath.Join(dir, "client"),
		"LCW_SESSION_SECRET_FILE":     filepath.Join(dir, "cookie"),
		"LCW_TOKEN_SIGNING_KEYS":      fmt.Sprintf("[{file: %q}]", filepath.Join(dir, "signing.pem")),
	}
	cfg, err := config.Load(filepath.Join("../../deploy/examples", file), func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cfg
}

// TestNeededByEachExample names, per IdP example, the claims its sessions
// keep: what its lwicontexts, subject, access rules and headers read, and
// iss. Everything else an IdP sends (Entra's groups, aio, uti, rh…) stays
// out of the cookie.
func TestNeededByEachExample(t *testing.T) {
	cases := map[string][]string{
		"adfs.yaml":              {"email", "group", "iss", "sub", "upn"},
		"azure-ad-b2c.yaml":      {"email", "extension_vip", "iss", "name", "sub"}, // email: emails[0], made email at sign-in
		"entra-external-id.yaml": {"email", "iss", "name", "oid", "preferred_username"},
		"entra-multitenant.yaml": {"email", "iss", "name", "oid", "preferred_username", "roles", "tid"}, // tid: the {tenantid} issuer rule
		"auth0.yaml":             {"email", "email_verified", "https://shop", "https://shop.example", "https://shop.example.com/loyalty_points", "https://shop.example.com/roles", "iss", "name", "nickname", "sub"},
		"cognito.yaml":           {"cognito:groups", "email", "iss", "sub"},
		"dex.yaml":               {"email", "federated_claims", "federated_claims.connector_id", "groups", "iss", "name", "sub"},
		"entra-id.yaml":          {"email", "iss", "name", "oid", "preferred_username", "roles", "sub"},
		"google.yaml":            {"email", "email_verified", "given_name", "hd", "iss", "name", "sub"},
		"keycloak.yaml":          {"email", "email_verified", "groups", "iss", "locale", "name", "preferred_username", "sub"},
		"okta.yaml":              {"email", "groups", "iss", "name", "preferred_username", "sub", "zoneinfo"},
		// headers.pass: email, preferred_username and groups for the ingress.
		"forward-auth/lcw-auth-proxy.yaml": {"email", "groups", "iss", "name", "preferred_username", "sub"},
	}
	files, _ := filepath.Glob("../../deploy/examples/*.yaml")
	for _, f := range files {
		if _, ok := cases[filepath.Base(f)]; !ok {
			t.Errorf("%s has no case here: name the claims its sessions keep", f)
		}
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			got := Needed(loadExample(t, file)).Names()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Needed = %q\nwant     %q", got, want)
			}
		})
	}
}

func TestNeededByEachReader(t *testing.T) {
	base := func() *config.Config {
		c := config.Default()
		c.Token.LWIContexts = nil
		return &c
	}
	cases := []struct {
		name string
		edit func(*config.Config)
		want []string
	}{
		{"subject and issuer only", func(*config.Config) {}, []string{"iss", "sub"}},
		{"another subject claim", func(c *config.Config) { c.Token.SubjectClaim = "extension_contactId" }, []string{"extension_contactId", "iss"}},
		{"a constant reads nothing", func(c *config.Config) {
			c.Token.LWIContexts = map[string]config.ContextRule{"region": {Value: "EU"}}
		}, []string{"iss", "sub"}},
		{"nested path keeps its parent", func(c *config.Config) {
			c.Token.LWIContexts = map[string]config.ContextRule{"country": {Claim: "address.country"}}
		}, []string{"address", "address.country", "iss", "sub"}},
		{"email domains", func(c *config.Config) { c.Access.AllowedEmailDomains = []string{"example.com"} },
			[]string{"email", "email_verified", "iss", "sub", "xms_edov"}},
		{"required groups read groups_claim", func(c *config.Config) {
			c.Access.RequiredGroups, c.Access.GroupsClaim = []string{"staff"}, "roles"
		}, []string{"iss", "roles", "sub"}},
		{"groups_claim alone reads nothing", func(c *config.Config) { c.Access.GroupsClaim = "roles" }, []string{"iss", "sub"}},
		{"required claims", func(c *config.Config) { c.Access.RequiredClaims = map[string][]string{"acr": {"mfa"}} }, []string{"acr", "iss", "sub"}},
		{"identity headers", func(c *config.Config) { c.Headers.Pass = true }, []string{"email", "groups", "iss", "preferred_username", "sub"}},
		{"identity headers without groups", func(c *config.Config) { c.Headers.Pass, c.Headers.Groups = true, "" },
			[]string{"email", "iss", "preferred_username", "sub"}},
		{"headers off read nothing", func(c *config.Config) { c.Headers.Pass = false }, []string{"iss", "sub"}},
		{"context_url gets every claim", func(c *config.Config) { c.Token.ContextURL = "https://crm.example.com/ctx" }, []string{Every}},
		{"the contact link, its email and verification", func(c *config.Config) { c.Token.Contact.OrgURL = "https://contoso.crm.dynamics.com" },
			[]string{ContactClaim, "email", "email_verified", "iss", "sub", "xms_edov"}},
		{"the contact link by a custom claim, with create", func(c *config.Config) {
			c.Token.Contact.OrgURL = "https://contoso.crm.dynamics.com"
			c.Token.Contact.Match = config.ContactMatch{Claim: "customer_no", Column: "cr123_customernumber"}
			c.Token.Contact.Create = map[string]string{"firstname": "given_name"}
		}, []string{ContactClaim, "customer_no", "given_name", "iss", "sub"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(c)
			if got := Needed(c).Names(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Needed = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestKeepDropsWhatNoReaderNeeds(t *testing.T) {
	c := config.Default()
	c.Token.LWIContexts = map[string]config.ContextRule{"country": {Claim: "address.country"}, "vip": {Claim: "https://example.com/tier"}}
	s := Needed(&c)
	in := map[string]any{
		"sub": "u1", "iss": "https://idp", "email": "a@example.com", "aio": strings.Repeat("x", 200),
		"address": map[string]any{"country": "DE"}, "https://example.com/tier": "gold",
	}
	got := s.Keep(in)
	want := map[string]any{"sub": "u1", "iss": "https://idp", "address": map[string]any{"country": "DE"}, "https://example.com/tier": "gold"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Keep = %v, want %v", got, want)
	}
	if len(in) != 6 {
		t.Fatal("Keep modified its input, which may be shared")
	}
	// The rules read the same values from what was kept.
	m := NewMapper(c.Token.LWIContexts)
	a, _ := m.Map(in)
	b, _ := m.Map(got)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("mapping changed: %v vs %v", a, b)
	}
	var every Set
	if got := every.Keep(in); len(got) != len(in) {
		t.Fatal("the zero Set keeps every claim")
	}
}

func TestCovers(t *testing.T) {
	c := config.Default()
	c.Token.LWIContexts = map[string]config.ContextRule{"mail": {Claim: "email"}}
	now := Needed(&c) // email, iss, sub
	cases := []struct {
		name   string
		set    Set
		stored []string
		want   bool
	}{
		{"the same set", now, []string{"email", "iss", "sub"}, true},
		{"a larger stored set", now, []string{"email", "groups", "iss", "sub"}, true},
		{"a claim the session lacks", now, []string{"iss", "sub"}, false},
		{"a session made before sets were named kept every claim", now, nil, true},
		{"a session that kept every claim", now, []string{Every}, true},
		{"context_url now needs every claim", Set{all: true}, []string{"email", "iss", "sub"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.set.Covers(tc.stored); got != tc.want {
				t.Errorf("Covers(%q) = %v, want %v", tc.stored, got, tc.want)
			}
		})
	}
	if !slices.Equal(now.Names(), []string{"email", "iss", "sub"}) {
		t.Fatalf("Names = %q", now.Names())
	}
}

// Turning token.contact on ends the sessions made before: they hold no
// link, and their users sign in again and get one.
func TestContactConfigSignsOldSessionsIn(t *testing.T) {
	c := config.Default()
	before := Needed(&c).Names()
	c.Token.Contact.OrgURL = "https://contoso.crm.dynamics.com"
	if Needed(&c).Covers(before) {
		t.Fatal("a session made before token.contact covers it: it would have no link until it ends")
	}
	if !Needed(&c).Covers(Needed(&c).Names()) {
		t.Fatal("a session made with token.contact does not cover it")
	}
	link := Contact{ID: "3f1c9a52-7d6e-4b8f-9a01-5e2d4c6b8a73", Result: ContactLinked}
	kept := Needed(&c).Keep(map[string]any{"sub": "x", ContactClaim: link.Value(), "aio": "dropped"})
	if got, ok := ContactOf(kept); !ok || got != link {
		t.Fatalf("kept %v: the link is lost", kept)
	}
}
