package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

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
// to the state directory so people can read it and start from it.
var configTemplate = template.Must(template.New("config").Funcs(template.FuncMap{"q": yamlString}).Parse(
	`# Written by lcw-demo on every start: the configuration its proxy runs with.
# Everything here is an ordinary lcw-auth-proxy setting (see the README).
listen: {{q .Listen}}
public_url: {{q .PublicURL}}
prefix: ` + prefix + `
upstream:
  url: {{q .Upstream}}
oidc:
  # The development identity provider lcw-demo started on loopback.
  issuer: {{q .Issuer}}
  client_id: {{q .ClientID}}
  client_secret: {{q .ClientSecret}}
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
    src: {{q .Widget.Src}}
    app_id: {{q .Widget.AppID}}
    org_id: {{q .Widget.OrgID}}
    org_url: {{q .Widget.OrgURL}}
{{- if .Simulated}}
    attributes:
      # Read by the simulated widget only: where Omnichannel would fetch the
      # public key, and where a signed-out visitor signs in.
      data-demo-public-key-url: {{q (print .PublicURL "` + prefix + `/public-key.pem")}}
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
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return nil, "", fmt.Errorf("write demo configuration: %w", err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		return nil, "", fmt.Errorf("load demo configuration %s: %w", path, err)
	}
	return cfg, path, nil
}
