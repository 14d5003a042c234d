// Package initcfg writes the starting point of a real deployment, for
// lcw-auth-proxy init: a commented config.yaml (from deploy/examples for a
// known IdP, else a generic template), a new signing key pair and a cookie
// secret, and says what to register at the IdP and in Omnichannel.
//
// A template is edited in place, value by value, rather than decoded and
// encoded again: its comments (what to register, which claims the IdP
// sends) are the point of starting from it, and they survive only if the
// text does. The same editor keeps the demo's --state config.yaml in step
// with the demo without losing a user's edits (see Set).
package initcfg

import (
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/deploy/examples"

	_ "embed"
)

// IdP is an identity provider init has an example configuration for.
type IdP struct {
	Name string // what --idp takes
	File string // in deploy/examples
	// IssuerHint shows the form of the provider's issuer URL.
	IssuerHint string
	// FixedIssuer: the example's issuer is the provider's one and only
	// (Google, or Entra's multi-tenant template), so --issuer may be left out.
	FixedIssuer bool
	// DiscoveryHint, when set, shows the form of the discovery document's
	// URL of a provider that serves it apart from the issuer
	// (oidc.discovery_url); NeedsDiscovery: it has no value fit for
	// everyone, so init asks for it.
	DiscoveryHint  string
	NeedsDiscovery bool
	// NeedsTenants: the example lists the tenants that may sign in
	// (oidc.allowed_tenants), which init asks for.
	NeedsTenants bool
	// Logout is what the provider offers of sign-out, so init lists only
	// the URIs there is somewhere to register.
	Logout Logout
}

// Logout names the sign-out features a provider offers (its example's
// header says the same): RP-initiated logout (a post-logout redirect URI
// to register), OpenID back-channel and front-channel logout.
type Logout struct{ RP, Backchannel, Frontchannel bool }

// anyIdP is what init lists without --idp: everything, each with its
// condition.
var anyIdP = Logout{RP: true, Backchannel: true, Frontchannel: true}

// IdPs lists the known providers in the order help shows them.
var IdPs = []IdP{
	{Name: "entra", File: "entra-id.yaml", IssuerHint: "https://login.microsoftonline.com/TENANT-ID/v2.0", Logout: Logout{RP: true, Frontchannel: true}},
	{Name: "entra-multitenant", File: "entra-multitenant.yaml", IssuerHint: "https://login.microsoftonline.com/{tenantid}/v2.0", FixedIssuer: true,
		DiscoveryHint: "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration (or /common/ for personal accounts too)", NeedsTenants: true, Logout: Logout{RP: true, Frontchannel: true}},
	{Name: "entra-external-id", File: "entra-external-id.yaml", IssuerHint: "https://TENANT-ID.ciamlogin.com/TENANT-ID/v2.0",
		DiscoveryHint: "https://TENANT.ciamlogin.com/TENANT.onmicrosoft.com/v2.0/.well-known/openid-configuration", NeedsDiscovery: true, Logout: Logout{RP: true, Frontchannel: true}},
	{Name: "azure-ad-b2c", File: "azure-ad-b2c.yaml", IssuerHint: "https://TENANT.b2clogin.com/TENANT-ID/v2.0/ (with the trailing slash)",
		DiscoveryHint: "https://TENANT.b2clogin.com/TENANT.onmicrosoft.com/USER-FLOW/v2.0/.well-known/openid-configuration", NeedsDiscovery: true, Logout: Logout{RP: true, Frontchannel: true}},
	{Name: "keycloak", File: "keycloak.yaml", IssuerHint: "https://keycloak.example.com/realms/REALM", Logout: Logout{RP: true, Backchannel: true}},
	{Name: "okta", File: "okta.yaml", IssuerHint: "https://YOUR-ORG.okta.com/oauth2/default", Logout: Logout{RP: true}},
	{Name: "auth0", File: "auth0.yaml", IssuerHint: "https://YOUR-TENANT.eu.auth0.com/ (with the trailing slash)", Logout: Logout{RP: true, Backchannel: true}},
	{Name: "google", File: "google.yaml", IssuerHint: "https://accounts.google.com", FixedIssuer: true, Logout: Logout{}},
	{Name: "cognito", File: "cognito.yaml", IssuerHint: "https://cognito-idp.REGION.amazonaws.com/USER_POOL_ID", Logout: Logout{RP: true}},
	{Name: "adfs", File: "adfs.yaml", IssuerHint: "https://adfs.example.com/adfs", Logout: Logout{RP: true}},
	{Name: "dex", File: "dex.yaml", IssuerHint: "https://dex.example.com/dex", Logout: Logout{}},
}

// LookupIdP finds an IdP by name.
func LookupIdP(name string) (IdP, bool) {
	for _, p := range IdPs {
		if p.Name == name {
			return p, true
		}
	}
	return IdP{}, false
}

// IdPNames are the names --idp takes, for messages.
func IdPNames() []string {
	names := make([]string, len(IdPs))
	for i, p := range IdPs {
		names[i] = p.Name
	}
	return names
}

//go:embed generic.yaml
var genericTemplate []byte

// Names of the files Write puts next to the configuration; the
// configuration refers to them by these relative names, which resolve
// against its own directory.
const (
	ConfigFile       = "config.yaml"
	CookieSecretFile = "cookie-secret"
	// GitignoreFile keeps the secrets out of a repository the directory
	// may be part of.
	GitignoreFile = ".gitignore"
)

// DefaultWidgetSrc is Omnichannel's loader on its production CDN.
const DefaultWidgetSrc = "https://oc-cdn-ocprod.azureedge.net/livechatwidget/scripts/LiveChatBootstrapper.js"

// Options are the values of one deployment.
type Options struct {
	IdP       string // a name of IdPs; "" for the generic template
	PublicURL string // the origin browsers use
	Upstream  string // the site
	Issuer    string // "" keeps the template's (only for a FixedIssuer IdP)
	// DiscoveryURL is oidc.discovery_url; "" keeps the template's.
	DiscoveryURL string
	// AllowedTenants replace the template's oidc.allowed_tenants; nil
	// keeps them.
	AllowedTenants []string
	ClientID       string
	// ClientSecretFile is the file holding the client secret; "" makes a
	// public client (PKCE alone), where the IdP allows it.
	ClientSecretFile string
	// Listen and MetricsListen: "" derives them from PublicURL — a
	// loopback URL gets loopback listeners (its port; metrics on 9090),
	// any other keeps the template's.
	Listen        string
	MetricsListen string
	TokenIssuer   string // "" means the public URL's host
	// Widget holds the embed code's values; no AppID means no widget tag
	// (a site that embeds the widget itself). Src defaults to the prod CDN.
	Widget config.Widget
	// SigningKeyFile is what the config lists as the signing key.
	SigningKeyFile string
}

// template returns the template text for an IdP name and where it is from.
func template(idp string) ([]byte, string, error) {
	if idp == "" {
		return genericTemplate, "the generic template", nil
	}
	p, ok := LookupIdP(idp)
	if !ok {
		return nil, "", fmt.Errorf("unknown IdP %q: use one of %s, or leave it out for any OpenID Connect provider", idp, strings.Join(IdPNames(), ", "))
	}
	data, err := fs.ReadFile(examples.FS, p.File)
	if err != nil {
		return nil, "", fmt.Errorf("example for %s: %w", idp, err)
	}
	return data, "deploy/examples/" + p.File, nil
}

// Render returns the config.yaml for o: the template with o's values in
// place and, in front, a header with what to register. It checks nothing
// beyond what it needs to write the values; config.Load is the judge.
func Render(o Options) ([]byte, error) {
	src, from, err := template(o.IdP)
	if err != nil {
		return nil, err
	}
	public, err := origin(o.PublicURL)
	if err != nil {
		return nil, err
	}
	doc, err := Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	oldPublic, oldIssuer, oldClient := doc.Value("public_url"), doc.Value("oidc.issuer"), doc.Value("oidc.client_id")
	oldDiscovery := doc.Value("oidc.discovery_url")
	tokenIssuer := o.TokenIssuer
	if tokenIssuer == "" {
		tokenIssuer = strings.TrimPrefix(strings.TrimPrefix(public, "https://"), "http://")
	}
	sets := [][2]string{
		{"public_url", public},
		{"upstream.url", o.Upstream},
		{"oidc.client_id", o.ClientID},
		{"session.secret_file", CookieSecretFile},
		{"token.issuer", tokenIssuer},
		{"token.signing_keys[0].file", o.SigningKeyFile},
	}
	listen, metrics := listeners(public, o.Listen, o.MetricsListen)
	if listen != "" {
		sets = append(sets, [2]string{"listen", listen})
	}
	if metrics != "" && doc.Has("metrics_listen") {
		sets = append(sets, [2]string{"metrics_listen", metrics})
	}
	// The example's access rules name its own groups and domains, not this
	// site's: kept, a first sign-in would end in a bare 403.
	for _, rule := range []string{"access.required_groups", "access.required_claims", "access.allowed_email_domains"} {
		if err := doc.CommentOut(rule, "The example's rule, off until you adapt it to your users (a sign-in it refuses gets 403)"); err != nil {
			return nil, err
		}
	}
	if o.Issuer != "" {
		sets = append(sets, [2]string{"oidc.issuer", o.Issuer})
	}
	if o.DiscoveryURL != "" {
		if !doc.Has("oidc.discovery_url") {
			return nil, fmt.Errorf("%s has no oidc.discovery_url to set: this IdP serves its discovery document under the issuer", from)
		}
		sets = append(sets, [2]string{"oidc.discovery_url", o.DiscoveryURL})
	}
	if o.AllowedTenants != nil {
		if err := doc.SetList("oidc.allowed_tenants", o.AllowedTenants); err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
	}
	if o.ClientSecretFile != "" {
		sets = append(sets, [2]string{"oidc.client_secret_file", o.ClientSecretFile})
	} else if err := doc.CommentOut("oidc.client_secret_file", "No client secret given to init: a public client, protected by PKCE alone"); err != nil {
		return nil, err
	}
	if o.Widget.AppID != "" {
		src := o.Widget.Src
		if src == "" {
			src = DefaultWidgetSrc
		}
		sets = append(sets, [2]string{"inject.widget.src", src}, [2]string{"inject.widget.app_id", o.Widget.AppID},
			[2]string{"inject.widget.org_id", o.Widget.OrgID}, [2]string{"inject.widget.org_url", o.Widget.OrgURL})
	} else if err := doc.CommentOut("inject.widget", "No widget given to init: the site embeds it itself, or fill these in from its embed code"); err != nil {
		return nil, err
	}
	if n := doc.Len("token.signing_keys"); n != 1 {
		return nil, fmt.Errorf("%s lists %d signing keys; init writes one", from, n)
	}
	// An IdP may want the client id as a scope too (B2C).
	for i := range doc.Len("oidc.scopes") {
		if path := fmt.Sprintf("oidc.scopes[%d]", i); oldClient != "" && doc.Value(path) == oldClient {
			sets = append(sets, [2]string{path, o.ClientID})
		}
	}
	for _, s := range sets {
		if err := doc.Set(s[0], s[1]); err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
	}
	out := doc.Bytes()
	// The template's comments name its own URLs (the redirect URI to
	// register, …): they now name these.
	out = bytes.ReplaceAll(out, []byte(strings.TrimSuffix(oldPublic, "/")), []byte(public))
	for _, r := range [][2]string{{oldIssuer, o.Issuer}, {oldDiscovery, o.DiscoveryURL}} {
		if r[0] != "" && r[1] != "" {
			out = bytes.ReplaceAll(out, []byte(r[0]), []byte(r[1]))
		}
	}
	return append([]byte(header(from, public, doc, logoutOf(o.IdP))), out...), nil
}

// logoutOf is what init lists for an IdP name ("" or unknown: everything).
func logoutOf(idp string) Logout {
	if p, ok := LookupIdP(idp); ok {
		return p.Logout
	}
	return anyIdP
}

// header opens the written file: where it came from and the exact values
// to register, which the template's own comments may only sketch.
func header(from, public string, doc *Document, lo Logout) string {
	prefix := doc.Value("prefix")
	if prefix == "" {
		prefix = config.Default().Prefix
	}
	after := doc.Value("oidc.post_logout_redirect_path")
	if after == "" {
		after = config.Default().OIDC.PostLogoutRedirectPath
	}
	fn := doc.Value("inject.client_function")
	if fn == "" {
		fn = config.Default().Inject.ClientFunction
	}
	var idp strings.Builder
	fmt.Fprintf(&idp, "#   redirect URI:              %s%s/callback\n", public, prefix)
	if lo.RP {
		fmt.Fprintf(&idp, "#   post-logout redirect URI:  %s%s\n", public, after)
	}
	if lo.Backchannel {
		fmt.Fprintf(&idp, "#   back-channel logout URI:   %s%s/backchannel-logout   (when the server-side session store is enabled)\n", public, prefix)
	}
	if lo.Frontchannel {
		note := "(with the server-side session store: see the README's Single logout)"
		if lo == anyIdP {
			note = "(for IdPs that offer it, such as Entra ID)"
		}
		fmt.Fprintf(&idp, "#   front-channel logout URI:  %s%s/frontchannel-logout  %s\n", public, prefix, note)
	}
	return fmt.Sprintf(`# Written by lcw-auth-proxy init from %s; the comments below are the template's.
# Relative paths (session.secret_file, token.signing_keys) are resolved against this file's directory.
#
# Register at the identity provider:
%s# In Omnichannel's chat authentication setting:
#   public key URL:              %s%s/public-keys   (Omnichannel's multi-key format: keys rotate without a change there; or %[3]s%[4]s/public-key.pem)
#   JavaScript client function:  %[5]s
# Check it (and whether the IdP and the site answer) with:
#   lcw-auth-proxy check-config --config config.yaml --online

`, from, idp.String(), public, prefix, fn)
}

// origin checks and normalizes a public URL to scheme://host[:port].
func origin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("public URL %q must be an http or https origin like https://shop.example.com (no path)", s)
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// listeners are the listen and metrics_listen init writes ("": keep the
// template's): what was asked for, else loopback ones for a loopback
// public URL, so the config serves exactly where --public-url points and
// nothing is opened on other interfaces.
func listeners(public, listen, metrics string) (string, string) {
	u, _ := url.Parse(public) // origin checked it
	host := u.Hostname()
	if !config.IsLoopbackHost(host) {
		return listen, metrics
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if listen == "" {
		listen = net.JoinHostPort("127.0.0.1", port)
	}
	if metrics == "" {
		metrics = "127.0.0.1:9090"
		if port == "9090" {
			metrics = "127.0.0.1:9091"
		}
	}
	return listen, metrics
}

// Document is YAML text that can be edited value by value, keeping every
// other byte (comments, alignment, order) as it was.
type Document struct {
	lines []string // without their line breaks
	root  *yaml.Node
	// commented holds the line ranges that CommentOut turned into comments.
	commented [][2]int
}

// Parse reads YAML text whose top level is a mapping.
func Parse(data []byte) (*Document, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, err
	}
	if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a YAML mapping")
	}
	text := strings.TrimSuffix(string(data), "\n")
	return &Document{lines: strings.Split(text, "\n"), root: n.Content[0]}, nil
}

// Bytes returns the edited text.
func (d *Document) Bytes() []byte { return []byte(strings.Join(d.lines, "\n") + "\n") }

// find returns the key and value nodes at path ("a.b", "a.list[0].c");
// nil when some part is missing.
func (d *Document) find(path string) (key, value *yaml.Node) {
	n := d.root
	for _, part := range splitPath(path) {
		if i, err := strconv.Atoi(part); err == nil {
			if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return nil, nil
			}
			key, n = nil, n.Content[i]
			continue
		}
		if n.Kind != yaml.MappingNode {
			return nil, nil
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == part {
				key, next = n.Content[j], n.Content[j+1]
			}
		}
		if next == nil {
			return nil, nil
		}
		n = next
	}
	return key, n
}

// splitPath turns "a.list[0].c" into a, list, 0, c.
func splitPath(path string) []string {
	return strings.FieldsFunc(strings.ReplaceAll(path, "[", "."), func(r rune) bool { return r == '.' || r == ']' })
}

// Value returns the scalar at path as written, "" when there is none.
func (d *Document) Value(path string) string {
	if _, v := d.find(path); v != nil && v.Kind == yaml.ScalarNode && !d.isCommented(v.Line) {
		return v.Value
	}
	return ""
}

// Has reports whether path is in the document (and not commented out).
func (d *Document) Has(path string) bool {
	_, v := d.find(path)
	return v != nil && !d.isCommented(v.Line)
}

// Len returns the number of items of the list at path.
func (d *Document) Len(path string) int {
	if _, v := d.find(path); v != nil && v.Kind == yaml.SequenceNode {
		return len(v.Content)
	}
	return 0
}

func (d *Document) isCommented(line int) bool {
	for _, r := range d.commented {
		if line >= r[0] && line <= r[1] {
			return true
		}
	}
	return false
}

// Set replaces the one-line scalar at path with value, quoted as YAML
// needs. A comment after the value stays.
func (d *Document) Set(path, value string) error {
	_, v := d.find(path)
	switch {
	case v == nil || d.isCommented(v.Line):
		return fmt.Errorf("no %s to set", path)
	case v.Kind != yaml.ScalarNode || v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return fmt.Errorf("%s is not a one-line value", path)
	}
	line := d.lines[v.Line-1]
	start := v.Column - 1
	end, ok := scalarEnd(line, start)
	if !ok {
		return fmt.Errorf("%s (line %d): cannot find the end of its value", path, v.Line)
	}
	enc, err := yamlScalar(value)
	if err != nil {
		return err
	}
	d.lines[v.Line-1] = line[:start] + enc + line[end:]
	v.Value = value
	return nil
}

// scalarEnd finds where the scalar starting at line[start] ends: after its
// closing quote, or for a plain scalar before a " #" comment or the end.
func scalarEnd(line string, start int) (int, bool) {
	if start < 0 || start >= len(line) {
		return 0, false
	}
	switch line[start] {
	case '"':
		for i := start + 1; i < len(line); i++ {
			switch line[i] {
			case '\\':
				i++
			case '"':
				return i + 1, true
			}
		}
		return 0, false
	case '\'':
		for i := start + 1; i < len(line); i++ {
			if line[i] == '\'' {
				if i+1 < len(line) && line[i+1] == '\'' {
					i++
					continue
				}
				return i + 1, true
			}
		}
		return 0, false
	case '{', '[':
		return 0, false // flow collections are not one scalar
	}
	end := len(line)
	if i := strings.Index(line[start:], " #"); i >= 0 {
		end = start + i
	}
	return len(strings.TrimRight(line[:end], " \t")), true
}

// SetList replaces the items of the block list at path with values, one
// item a line at the first item's indentation; comments on the old items
// go with them.
func (d *Document) SetList(path string, values []string) error {
	_, v := d.find(path)
	switch {
	case v == nil || d.isCommented(v.Line):
		return fmt.Errorf("no %s to set", path)
	case v.Kind != yaml.SequenceNode || v.Style&yaml.FlowStyle != 0 || len(v.Content) == 0:
		return fmt.Errorf("%s is not a block list", path)
	}
	first, last := v.Content[0].Line, lastLine(v)
	line := d.lines[first-1]
	dash := strings.Index(line, "- ")
	if dash < 0 || strings.TrimSpace(line[:dash]) != "" {
		return fmt.Errorf("%s (line %d): unexpected layout", path, first)
	}
	items := make([]string, len(values))
	for i, s := range values {
		enc, err := yamlScalar(s)
		if err != nil {
			return err
		}
		items[i] = line[:dash] + "- " + enc
	}
	d.lines = slices.Replace(d.lines, first-1, last, items...)
	d.shift(last+1, len(items)-(last-first+1))
	return nil
}

// yamlScalar renders s as one YAML scalar on one line.
func yamlScalar(s string) (string, error) {
	if strings.ContainsAny(s, "\n\r") {
		return "", fmt.Errorf("%q: values must be one line", s)
	}
	b, err := yaml.Marshal(s)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// CommentOut turns the key at path, with its whole value, into comments,
// with why as a comment above them; a missing key is left alone.
func (d *Document) CommentOut(path, why string) error {
	k, v := d.find(path)
	if k == nil {
		return nil
	}
	first, last := k.Line, lastLine(v)
	if k.Column-1 > len(d.lines[first-1]) {
		return fmt.Errorf("%s: unexpected layout", path)
	}
	indent := d.lines[first-1][:k.Column-1]
	if strings.TrimSpace(indent) != "" {
		return fmt.Errorf("%s is not the first thing on its line", path)
	}
	for i := first - 1; i < last; i++ {
		if strings.HasPrefix(d.lines[i], indent) {
			d.lines[i] = indent + "# " + d.lines[i][len(indent):]
		}
	}
	// Comment lines go in front, shifting the range by one line: the
	// recorded range is in the numbers of the parsed text, so both shift.
	d.lines = slices.Insert(d.lines, first-1, indent+"# "+why+":")
	d.shift(first, 1)
	d.commented = append(d.commented, [2]int{first + 1, last + 1})
	return nil
}

// shift moves every node at or after line down by n lines, after lines
// were inserted, so later edits find their text.
func (d *Document) shift(line, n int) {
	var walk func(*yaml.Node)
	walk = func(x *yaml.Node) {
		if x.Line >= line {
			x.Line += n
		}
		for _, c := range x.Content {
			walk(c)
		}
	}
	walk(d.root)
	for i := range d.commented {
		if d.commented[i][0] >= line {
			d.commented[i][0] += n
			d.commented[i][1] += n
		}
	}
}

// lastLine is the last line a node's text takes.
func lastLine(n *yaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, lastLine(c))
	}
	if n.Kind == yaml.ScalarNode && (n.Style&(yaml.LiteralStyle|yaml.FoldedStyle)) != 0 {
		last += strings.Count(strings.TrimSuffix(n.Value, "\n"), "\n") + 1
	}
	return last
}
