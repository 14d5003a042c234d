package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/initcfg"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// prefix is the proxy's path prefix in the demo (the product's default).
const prefix = "/_lcw"

// demoConfig holds the values that differ between demo runs; everything
// else in the template is the demo's fixed setup.
type demoConfig struct {
	Listen, PublicURL, Upstream    string
	Issuer, ClientID, ClientSecret string
	SecretFile, KeyFile            string
	Widget                         config.Widget
	Simulated                      bool
}

// configTemplate is the configuration the demo's proxy runs with, written
// to the state directory so people can read it and try changes on it. The
// keys marked "managed by lcw-demo" are the ones prepareConfig keeps in
// step with the running demo.
var configTemplate = template.Must(template.New("config").Funcs(template.FuncMap{"q": yamlString}).Parse(
	`# Written by lcw-demo: the configuration its proxy runs with, against the demo's
# development identity provider, which exists only while lcw-demo runs. It is not a
# starting point for a real site: for that, run lcw-auth-proxy init (README, "Your own site").
#
# Try changes here (lwicontexts, access, inject, ...) and start lcw-demo again with the same
# --state: your edits stay. The keys marked "managed by lcw-demo" follow the demo's own setup
# (ports, its IdP, --upstream, the widget flags): lcw-demo updates them itself, and refuses to
# start when one was changed by hand. Relative paths name files in this directory.
listen: {{q .Listen}}  # managed by lcw-demo
public_url: {{q .PublicURL}}  # managed by lcw-demo
prefix: ` + prefix + `
upstream:
  url: {{q .Upstream}}  # managed by lcw-demo
oidc:
  # The development identity provider lcw-demo started on loopback.
  issuer: {{q .Issuer}}  # managed by lcw-demo
  client_id: {{q .ClientID}}  # managed by lcw-demo
  client_secret: {{q .ClientSecret}}  # managed by lcw-demo
  scopes: [openid, profile, email, offline_access]
session:
  secret_file: {{q .SecretFile}}
access:
  # optional: anonymous visitors browse, the chat needs a signed-in user.
  mode: optional
  public_paths: [/public/, /favicon.ico]
headers:
  # Lets the demo site show who is signed in (X-Forwarded-Email).
  pass: true
token:
  issuer: {{q .PublicURL}}
  subject_claim: sub
  signing_keys:
    - file: {{q .KeyFile}}
  lwicontexts:
    customer_email:  { claim: email }
    customer_name:   { claim: name }
    msdyn_isvip:     { claim: groups, contains: vip, type: boolean }
    msdyn_cartvalue: { claim: cart_value, type: number, default: 0 }
    contact_id:      { claim: contact_id }
    region:          { value: EU }
inject:
  enabled: true
  client_function: lcwAuth.getAuthenticationToken
  widget:
    src: {{q .Widget.Src}}  # managed by lcw-demo
    app_id: {{q .Widget.AppID}}  # managed by lcw-demo
    org_id: {{q .Widget.OrgID}}  # managed by lcw-demo
    org_url: {{q .Widget.OrgURL}}  # managed by lcw-demo
{{- if .Simulated}}
    attributes:
      # Read by the simulated widget only: where Omnichannel would fetch the
      # public key, and where a signed-out visitor signs in.
      data-demo-public-key-url: {{q (print .PublicURL "` + prefix + `/public-key.pem")}}  # managed by lcw-demo
      data-demo-login-url: ` + prefix + `/login
      data-demo-client-function: lcwAuth.getAuthenticationToken
{{- end}}
  csp:
    allow_widget: true
log:
  format: text
  level: info
  access_log: false
`))

// yamlString renders s as one YAML scalar, quoted as YAML needs it.
func yamlString(s string) (string, error) {
	b, err := yaml.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode %q as YAML: %w", s, err)
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// writeConfig writes the demo's configuration into dir and loads it with
// config.Load, so the demo runs with the product's own types, defaults and
// validation. LCW_* variables are ignored: the demo needs no setup and must
// not pick up a real deployment's settings.
func writeConfig(dir string, c demoConfig) (*config.Config, string, error) {
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, c); err != nil {
		return nil, "", fmt.Errorf("render demo configuration: %w", err)
	}
	path := filepath.Join(dir, configFile)
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return nil, "", fmt.Errorf("write demo configuration: %w", err)
	}
	return loadConfig(path)
}

// configFile is the demo's configuration in the state directory.
const configFile = "config.yaml"

func loadConfig(path string) (*config.Config, string, error) {
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		return nil, "", fmt.Errorf("load demo configuration %s: %w", path, err)
	}
	return cfg, path, nil
}

// managed returns the keys lcw-demo sets from this start's setup, with
// their values: they must match what runs (its IdP, ports and flags).
func (c demoConfig) managed() map[string]string {
	m := map[string]string{
		"listen": c.Listen, "public_url": c.PublicURL, "upstream.url": c.Upstream,
		"oidc.issuer": c.Issuer, "oidc.client_id": c.ClientID, "oidc.client_secret": c.ClientSecret,
		"inject.widget.src": c.Widget.Src, "inject.widget.app_id": c.Widget.AppID,
		"inject.widget.org_id": c.Widget.OrgID, "inject.widget.org_url": c.Widget.OrgURL,
	}
	if c.Simulated {
		m["inject.widget.attributes.data-demo-public-key-url"] = c.PublicURL + prefix + "/public-key.pem"
	}
	return m
}

// prepareConfig writes dir's config.yaml on the first start and, on later
// starts (--state), keeps it with the user's edits: only the managed keys
// are brought in step with this start, each change returned to be told.
// A managed key the user changed by hand is refused, not overwritten.
// st.Managed is set to what the file then holds.
func prepareConfig(dir string, c demoConfig, st *demoState) (cfg *config.Config, path string, changes []string, err error) {
	want := c.managed()
	path = filepath.Join(dir, configFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		cfg, path, err = writeConfig(dir, c)
		st.Managed = want
		return cfg, path, nil, err
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("read %s: %w", path, err)
	}
	doc, err := initcfg.Parse(data)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s (kept from the last start) is not valid YAML: %v; fix it, or delete it to have a fresh one written", path, err)
	}
	var refused []string
	for _, key := range slices.Sorted(maps.Keys(want)) {
		got, needed := doc.Value(key), want[key]
		last, known := st.Managed[key]
		switch {
		case !doc.Has(key):
			refused = append(refused, fmt.Sprintf("%s is missing (the file was written for another setup, such as the other widget)", key))
		case got == needed:
		case known && got != last:
			refused = append(refused, fmt.Sprintf("%s was changed by hand to %s; this start needs %s", key, show(key, got), show(key, needed)))
		default:
			if err := doc.Set(key, needed); err != nil {
				return nil, "", nil, fmt.Errorf("update %s: %w", path, err)
			}
			changes = append(changes, fmt.Sprintf("%s: %s → %s", key, show(key, got), show(key, needed)))
		}
	}
	if len(refused) > 0 {
		return nil, "", nil, fmt.Errorf("%s: %s.\nThese keys follow the demo's own setup: undo the change, or delete %s to have a fresh one written (your other edits go with it). To run the proxy with an IdP of your own, use lcw-auth-proxy init instead of the demo",
			path, strings.Join(refused, "; "), configFile)
	}
	if len(changes) > 0 {
		if err := os.WriteFile(path, doc.Bytes(), 0o600); err != nil {
			return nil, "", nil, fmt.Errorf("update %s: %w", path, err)
		}
	}
	st.Managed = want
	cfg, path, err = loadConfig(path)
	return cfg, path, changes, err
}

// show quotes a value for a message; the client secret is not shown.
func show(key, v string) string {
	if key == "oidc.client_secret" {
		return "(a secret)"
	}
	return strconv.Quote(v)
}
