package initcfg

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/deploy/examples"
)

// Every example on disk is a choice of --idp, and every choice has its
// example: a new file in deploy/examples must be added to IdPs.
func TestEveryExampleIsAnIdP(t *testing.T) {
	embedded, err := fs.Glob(examples.FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := filepath.Glob("../../../deploy/examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range onDisk {
		onDisk[i] = filepath.Base(onDisk[i])
	}
	if !slices.Equal(embedded, onDisk) {
		t.Errorf("embedded examples %v, on disk %v", embedded, onDisk)
	}
	var files []string
	for _, p := range IdPs {
		files = append(files, p.File)
	}
	slices.Sort(files)
	if !slices.Equal(files, embedded) {
		t.Errorf("IdPs name the files %v; deploy/examples holds %v", files, embedded)
	}
}

// writeSecret writes a client secret file and returns its path.
func writeSecret(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(p, []byte("from-the-idp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Whatever the template, the written configuration loads, means what was
// asked, and keeps the template's comments.
func TestWriteEveryTemplate(t *testing.T) {
	secret := writeSecret(t)
	for _, idp := range append([]string{""}, IdPNames()...) {
		name := idp
		if name == "" {
			name = "generic"
		}
		t.Run(name, func(t *testing.T) {
			o := Options{
				IdP: idp, PublicURL: "https://chat.acme.test/", Upstream: "http://127.0.0.1:9000",
				Issuer: "https://id.acme.test/tenant", ClientID: "acme-proxy", ClientSecretFile: secret,
				Widget: config.Widget{AppID: "app-1", OrgID: "org-1", OrgURL: "https://acme.omnichannelengagementhub.com"},
			}
			// IdPs off the spec's path: the discovery document apart from
			// the issuer, a {tenantid} issuer with the tenants allowed.
			p, _ := LookupIdP(idp)
			if p.DiscoveryHint != "" {
				o.DiscoveryURL = "https://id.acme.test/common/v2.0/.well-known/openid-configuration"
			}
			if p.NeedsTenants {
				o.Issuer = "https://id.acme.test/{tenantid}/v2.0"
				o.AllowedTenants = []string{"00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2", "00000000-0000-4000-8000-0000000000a3"}
			}
			dir := filepath.Join(t.TempDir(), "out")
			res, err := Write(dir, o, false)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			cfg, err := config.Load(filepath.Join(dir, ConfigFile), nil)
			if err != nil {
				t.Fatalf("the written configuration does not load: %v", err)
			}
			for key, got := range map[string][2]string{
				"public_url":                 {cfg.PublicURL, "https://chat.acme.test"},
				"upstream.url":               {cfg.Upstream.URL, "http://127.0.0.1:9000"},
				"oidc.issuer":                {cfg.OIDC.Issuer, o.Issuer},
				"oidc.discovery_url":         {cfg.OIDC.DiscoveryURL, o.DiscoveryURL},
				"oidc.allowed_tenants":       {strings.Join(cfg.OIDC.AllowedTenants, ","), strings.Join(o.AllowedTenants, ",")},
				"oidc.client_id":             {cfg.OIDC.ClientID, "acme-proxy"},
				"oidc.client_secret":         {cfg.OIDC.ClientSecret, "from-the-idp"},
				"session.secret_file":        {cfg.Session.SecretFile, filepath.Join(dir, CookieSecretFile)},
				"token.issuer":               {cfg.Token.Issuer, "chat.acme.test"},
				"token.signing_keys[0].file": {cfg.Token.SigningKeys[0].File, filepath.Join(dir, keys.PrivateKeyFile)},
				"inject.widget.app_id":       {cfg.Inject.Widget.AppID, "app-1"},
				"inject.widget.src":          {cfg.Inject.Widget.Src, DefaultWidgetSrc},
			} {
				if got[0] != got[1] {
					t.Errorf("%s = %q, want %q", key, got[0], got[1])
				}
			}
			text, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			lo := logoutOf(idp)
			for line, want := range map[string]bool{
				"#   redirect URI:              https://chat.acme.test/_lcw/callback\n":                                      true,
				"#   post-logout redirect URI:  https://chat.acme.test/":                                                     lo.RP,
				"#   back-channel logout URI:   https://chat.acme.test/_lcw/backchannel-logout":                              lo.Backchannel,
				"#   front-channel logout URI:  https://chat.acme.test/_lcw/frontchannel-logout":                             lo.Frontchannel,
				"#   public key URL:              https://chat.acme.test/_lcw/public-keys   (Omnichannel's multi-key format": true,
			} {
				if strings.Contains(string(text), line) != want {
					t.Errorf("config.yaml lists %q: %v, want %v (what %s offers)", line, !want, want, name)
				}
			}
			if (res.Registration.BackchannelLogoutURI != "") != lo.Backchannel || (res.Registration.FrontchannelLogoutURI != "") != lo.Frontchannel || (res.Registration.PostLogoutRedirectURI != "") != lo.RP {
				t.Errorf("registration %+v lists what %s does not offer, or leaves out what it does", res.Registration, name)
			}
			// The template's own comments now name this site's URLs.
			if strings.Contains(string(text), "shop.example.com/_lcw/callback") {
				t.Error("a comment still names the template's redirect URI")
			}
			src, _, _ := template(idp)
			for _, line := range strings.Split(string(src), "\n") {
				if strings.HasPrefix(line, "#") && !strings.Contains(line, "://") && len(line) > 20 {
					if !strings.Contains(string(text), line) {
						t.Errorf("the template's comment %q is gone", line)
					}
					break
				}
			}
			if res.Registration.RedirectURI != "https://chat.acme.test/_lcw/callback" || res.Registration.PublicKeyURL != "https://chat.acme.test/_lcw/public-key.pem" {
				t.Errorf("registration %+v", res.Registration)
			}
		})
	}
}

func TestWriteModesAndNoOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	o := Options{PublicURL: "http://127.0.0.1:4180", Upstream: "http://127.0.0.1:8080", Issuer: "http://127.0.0.1:5556", ClientID: "c"}
	if _, err := Write(dir, o, false); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{
		".": 0o700, ConfigFile: 0o644, CookieSecretFile: 0o600, keys.PrivateKeyFile: 0o600, keys.PublicKeyFile: 0o644,
	}
	before := map[string][]byte{}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %04o, want %04o", name, fi.Mode().Perm(), mode)
		}
		before[name], _ = os.ReadFile(filepath.Join(dir, name))
	}

	_, err := Write(dir, o, false)
	if err == nil || !strings.Contains(err.Error(), "already holds config.yaml, cookie-secret, lcw-signing-key.pem, lcw-signing-key.pub.pem") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second Write: %v, want a refusal naming the files and --force", err)
	}
	for name := range want {
		if name == "." {
			continue
		}
		if after, _ := os.ReadFile(filepath.Join(dir, name)); string(after) != string(before[name]) {
			t.Errorf("%s changed although Write refused", name)
		}
	}

	if _, err := Write(dir, o, true); err != nil {
		t.Fatalf("Write with force: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, keys.PrivateKeyFile)); string(after) == string(before[keys.PrivateKeyFile]) {
		t.Error("force kept the old signing key")
	}
}

// No client secret and no widget: those keys become comments, so the file
// is valid and still shows where they would go.
func TestRenderLeavesOutWhatWasNotGiven(t *testing.T) {
	text, err := Render(Options{IdP: "keycloak", PublicURL: "https://a.test", Upstream: "http://127.0.0.1:1", Issuer: "https://kc.test/realms/a", ClientID: "c", SigningKeyFile: "k.pem"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  # No client secret given to init: a public client, protected by PKCE alone:\n  # client_secret_file: /run/secrets/lcw-auth-proxy/oidc-client-secret\n",
		"  # No widget given to init: the site embeds it itself, or fill these in from its embed code:\n  # widget:\n  #   src: ",
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("rendered config lacks %q:\n%s", want, text)
		}
	}
	doc, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Has("oidc.client_secret_file") || doc.Has("inject.widget") || !doc.Has("inject.client_function") {
		t.Error("the commented-out keys are still keys, or a neighbour went with them")
	}
}

func TestDocumentSetKeepsTheRest(t *testing.T) {
	doc, err := Parse([]byte("a:\n  b: old   # why b\n  c: \"quoted # not a comment\"\nlist:\n  - file: x.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	for path, v := range map[string]string{"a.b": "new value", "a.c": ":4180", "list[0].file": "y.pem"} {
		if err := doc.Set(path, v); err != nil {
			t.Fatalf("Set(%s): %v", path, err)
		}
	}
	want := "a:\n  b: new value   # why b\n  c: :4180\nlist:\n  - file: y.pem\n"
	if got := string(doc.Bytes()); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	again, err := Parse(doc.Bytes())
	if err != nil || again.Value("a.c") != ":4180" || again.Value("a.b") != "new value" {
		t.Errorf("the edited text reads back as a.b=%q a.c=%q (%v)", again.Value("a.b"), again.Value("a.c"), err)
	}
	if err := doc.Set("a.missing", "x"); err == nil {
		t.Error("Set of a missing key succeeded")
	}
}

// The Microsoft family: Entra multi-tenant keeps its issuer template and
// /organizations document unless told otherwise and takes the tenants
// given; B2C's client-id scope follows the client id; an IdP on the
// spec's path has no discovery URL to set.
func TestRenderOffSpecIdPs(t *testing.T) {
	base := Options{PublicURL: "https://a.test", Upstream: "http://127.0.0.1:1", ClientID: "acme-client", SigningKeyFile: "k.pem"}
	render := func(o Options) *Document {
		t.Helper()
		text, err := Render(o)
		if err != nil {
			t.Fatalf("Render(%s): %v", o.IdP, err)
		}
		doc, err := Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	o := base
	o.IdP, o.AllowedTenants = "entra-multitenant", []string{"00000000-0000-4000-8000-0000000000a1"}
	doc := render(o)
	if doc.Value("oidc.issuer") != "https://login.microsoftonline.com/{tenantid}/v2.0" ||
		doc.Value("oidc.discovery_url") != "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration" ||
		doc.Len("oidc.allowed_tenants") != 1 || doc.Value("oidc.allowed_tenants[0]") != o.AllowedTenants[0] {
		t.Errorf("entra-multitenant: issuer %q, discovery %q, %d tenants", doc.Value("oidc.issuer"), doc.Value("oidc.discovery_url"), doc.Len("oidc.allowed_tenants"))
	}
	if doc.Value("session.secret_file") != CookieSecretFile {
		t.Errorf("an edit after the tenant list missed its line: session.secret_file = %q", doc.Value("session.secret_file"))
	}

	o = base
	o.IdP, o.Issuer, o.DiscoveryURL = "azure-ad-b2c", "https://acme.b2clogin.com/00000000-0000-4000-8000-0000000000b1/v2.0/", "https://acme.b2clogin.com/acme.onmicrosoft.com/B2C_1_x/v2.0/.well-known/openid-configuration"
	doc = render(o)
	var scopes []string
	for i := range doc.Len("oidc.scopes") {
		scopes = append(scopes, doc.Value("oidc.scopes["+strconv.Itoa(i)+"]"))
	}
	if !slices.Equal(scopes, []string{"openid", "offline_access", "acme-client"}) || doc.Value("oidc.discovery_url") != o.DiscoveryURL {
		t.Errorf("azure-ad-b2c: scopes %v, discovery %q", scopes, doc.Value("oidc.discovery_url"))
	}

	o = base
	o.IdP, o.Issuer, o.DiscoveryURL = "keycloak", "https://kc.test/realms/a", "https://kc.test/x/.well-known/openid-configuration"
	if _, err := Render(o); err == nil || !strings.Contains(err.Error(), "no oidc.discovery_url") {
		t.Errorf("keycloak with a discovery URL: %v, want a refusal", err)
	}
}

// The written config serves where --public-url points: a loopback URL gets
// loopback listeners on its port (metrics on loopback too), any other URL
// keeps the template's, and what was asked for wins. The example's access
// rules are written commented out, so a first sign-in is not a bare 403.
func TestRenderListenersAndAccessRules(t *testing.T) {
	secret := writeSecret(t)
	for _, tc := range []struct {
		name, public, listen, metrics string
		wantListen, wantMetrics       string
	}{
		{"loopback URL", "http://127.0.0.1:8081", "", "", "127.0.0.1:8081", "127.0.0.1:9090"},
		{"localhost without a port", "http://localhost", "", "", "127.0.0.1:80", "127.0.0.1:9090"},
		{"loopback on the metrics port", "http://127.0.0.1:9090", "", "", "127.0.0.1:9090", "127.0.0.1:9091"},
		{"IPv6 loopback", "https://[::1]:8443", "", "", "127.0.0.1:8443", "127.0.0.1:9090"},
		{"public URL keeps the template's", "https://chat.acme.test", "", "", ":4180", ":9090"},
		{"asked for wins", "http://127.0.0.1:8081", "0.0.0.0:8081", "127.0.0.1:9999", "0.0.0.0:8081", "127.0.0.1:9999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			o := Options{IdP: "dex", PublicURL: tc.public, Upstream: "http://127.0.0.1:9000", Issuer: "https://dex.acme.test/dex",
				ClientID: "c", ClientSecretFile: secret, Listen: tc.listen, MetricsListen: tc.metrics}
			if _, err := Write(dir, o, false); err != nil {
				t.Fatalf("Write: %v", err)
			}
			cfg, err := config.Load(filepath.Join(dir, ConfigFile), nil)
			if err != nil {
				t.Fatalf("the written configuration does not load: %v", err)
			}
			if cfg.Listen != tc.wantListen || cfg.MetricsListen != tc.wantMetrics {
				t.Errorf("listen %q, metrics_listen %q; want %q, %q", cfg.Listen, cfg.MetricsListen, tc.wantListen, tc.wantMetrics)
			}
			if len(cfg.Access.RequiredGroups) != 0 {
				t.Errorf("the example's required_groups %v were kept", cfg.Access.RequiredGroups)
			}
			text, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			if !strings.Contains(string(text), "  # required_groups: [customers, staff]") {
				t.Errorf("the example's rule is not left commented out to adapt:\n%s", text)
			}
			ignore, err := os.ReadFile(filepath.Join(dir, GitignoreFile))
			if err != nil || !strings.Contains(string(ignore), "\n"+CookieSecretFile+"\n") || !strings.Contains(string(ignore), "\n"+keys.PrivateKeyFile+"\n") {
				t.Errorf("%s does not keep the secrets out of git: %q %v", GitignoreFile, ignore, err)
			}
		})
	}
}
