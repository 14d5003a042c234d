package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/app"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/initcfg"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// defaultInitDir is where init writes when --out is not given: a new
// directory, so its mode can be 0700 without touching the current one.
const defaultInitDir = "lcw-config"

const initUsage = `lcw-auth-proxy init — the starting point for a real site

Usage:
  lcw-auth-proxy init [--idp NAME] [--out DIR] [--force]
      --public-url URL --upstream URL --issuer URL --client-id ID [--client-secret-file FILE]
      [--discovery-url URL] [--allowed-tenants ID,ID]
      [--widget-app-id ID --widget-org-id ID --widget-org-url URL [--widget-src URL]]
      [--listen ADDR] [--metrics-listen ADDR] [--token-issuer NAME]

Writes into DIR (default lcw-config, created with mode 0700): config.yaml (0644, commented;
from deploy/examples/ for --idp, else a generic template), cookie-secret (0600), and a new
signing key pair lcw-signing-key.pem (0600) and lcw-signing-key.pub.pem (0644). Existing files
are kept unless --force. A DIR every user can write to (such as /tmp) is refused unless --force:
others could replace the secrets. Then prints what to register at the IdP (redirect, post-logout,
back-channel and front-channel logout URIs) and in Omnichannel's chat authentication setting (public key URL,
JavaScript client function).

--idp is one of: %s.

In a terminal, init asks for every value the flags leave out; elsewhere it names the missing
flags and stops. --issuer may be left out with --idp google and --idp entra-multitenant.
--discovery-url (where the discovery document is, when not under the issuer) is needed with
--idp entra-external-id and azure-ad-b2c; --allowed-tenants (the Directory (tenant) IDs that
may sign in) with --idp entra-multitenant.
`

// question is one value init needs, from a flag or, in a terminal, asked.
type question struct {
	flag, prompt string
	required     bool
	value        *string
	check        func(string) error
}

// initCmd writes the starting point of a real deployment (see
// internal/initcfg) from flags, or from answers when run in a terminal.
func initCmd(args []string, p process, stdout, stderr io.Writer) error {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprintf(stdout, initUsage, strings.Join(initcfg.IdPNames(), ", "))
			return nil
		}
	}
	fs := newFlagSet("init")
	var o initcfg.Options
	out := fs.String("out", defaultInitDir, "directory to write into (created 0700)")
	force := fs.Bool("force", false, "replace existing files, and write into a directory every user can write to")
	fs.StringVar(&o.IdP, "idp", "", "start from deploy/examples for this IdP: "+strings.Join(initcfg.IdPNames(), ", "))
	fs.StringVar(&o.PublicURL, "public-url", "", "the origin browsers use, e.g. https://shop.example.com")
	fs.StringVar(&o.Upstream, "upstream", "", "the site to put the proxy in front of, e.g. http://127.0.0.1:8080")
	fs.StringVar(&o.Issuer, "issuer", "", "the OpenID provider's issuer URL")
	fs.StringVar(&o.DiscoveryURL, "discovery-url", "", "the discovery document's URL, for IdPs that serve it apart from the issuer")
	var tenants string
	fs.StringVar(&tenants, "allowed-tenants", "", "comma-separated tenant ids (GUIDs) that may sign in (Entra multi-tenant)")
	fs.StringVar(&o.ClientID, "client-id", "", "the client ID registered for the proxy")
	fs.StringVar(&o.ClientSecretFile, "client-secret-file", "", "file holding the client secret (none: a public client)")
	fs.StringVar(&o.Listen, "listen", "", "address the proxy listens on (default: loopback on the public URL's port for a loopback URL, else the template's)")
	fs.StringVar(&o.MetricsListen, "metrics-listen", "", "address of the metrics listener (default: 127.0.0.1:9090 for a loopback public URL, else the template's)")
	fs.StringVar(&o.TokenIssuer, "token-issuer", "", "iss of the chat token (default: the public URL's host)")
	fs.StringVar(&o.Widget.AppID, "widget-app-id", "", "data-app-id of the widget's embed code")
	fs.StringVar(&o.Widget.OrgID, "widget-org-id", "", "data-org-id of the widget's embed code")
	fs.StringVar(&o.Widget.OrgURL, "widget-org-url", "", "data-org-url of the widget's embed code")
	fs.StringVar(&o.Widget.Src, "widget-src", "", "src of the widget's embed code (default: the prod CDN)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError{fmt.Sprintf("init: unexpected argument %q", rest[0])}
	}
	idp, known := initcfg.LookupIdP(o.IdP)
	if o.IdP != "" && !known {
		return usageError{fmt.Sprintf("init: --idp %q: use one of %s, or leave it out for any OpenID Connect provider", o.IdP, strings.Join(initcfg.IdPNames(), ", "))}
	}
	issuerPrompt := "Issuer URL of the OpenID provider"
	if known {
		issuerPrompt += " (like " + idp.IssuerHint + ")"
	}
	questions := []question{
		{flag: "public-url", prompt: "Public URL of the site, the origin browsers use (like https://shop.example.com)", required: true, value: &o.PublicURL, check: checkOrigin},
		{flag: "upstream", prompt: "URL of the site the proxy goes in front of (like http://127.0.0.1:8080)", required: true, value: &o.Upstream, check: checkHTTPURL},
		{flag: "issuer", prompt: issuerPrompt, required: !idp.FixedIssuer, value: &o.Issuer, check: checkHTTPURL},
	}
	if idp.DiscoveryHint != "" {
		questions = append(questions, question{flag: "discovery-url", prompt: "URL of the discovery document (like " + idp.DiscoveryHint + ")",
			required: idp.NeedsDiscovery, value: &o.DiscoveryURL, check: checkHTTPURL})
	}
	if idp.NeedsTenants {
		questions = append(questions, question{flag: "allowed-tenants", prompt: "Tenant ids that may sign in, comma-separated (Directory (tenant) ID GUIDs)",
			required: true, value: &tenants, check: checkTenants})
	}
	questions = append(questions, []question{
		{flag: "client-id", prompt: "Client ID the IdP gave the proxy", required: true, value: &o.ClientID},
		{flag: "client-secret-file", prompt: "File holding the client secret (Enter for a public client)", value: &o.ClientSecretFile},
		{flag: "widget-app-id", prompt: "Widget data-app-id from its embed code (Enter if the site embeds the widget itself)", value: &o.Widget.AppID},
		{flag: "widget-org-id", prompt: "Widget data-org-id", value: &o.Widget.OrgID},
		{flag: "widget-org-url", prompt: "Widget data-org-url", value: &o.Widget.OrgURL, check: checkHTTPURL},
	}...)
	if err := ask(questions, p, stderr); err != nil {
		return err
	}
	for _, q := range questions {
		if *q.value != "" && q.check != nil {
			if err := q.check(*q.value); err != nil {
				return usageError{fmt.Sprintf("init: --%s: %v", q.flag, err)}
			}
		}
	}
	if o.DiscoveryURL != "" && idp.DiscoveryHint == "" {
		return usageError{"init: --discovery-url: this IdP serves its discovery document under the issuer; leave it out"}
	}
	if tenants != "" {
		if !idp.NeedsTenants {
			return usageError{"init: --allowed-tenants applies only to --idp entra-multitenant"}
		}
		o.AllowedTenants = splitList(tenants)
	}
	w := o.Widget
	if (w.AppID != "" || w.OrgID != "" || w.OrgURL != "" || w.Src != "") && (w.AppID == "" || w.OrgID == "" || w.OrgURL == "") {
		return usageError{"init: the widget needs --widget-app-id, --widget-org-id and --widget-org-url together (the data-* values of its embed code), or none of them"}
	}
	if o.ClientSecretFile != "" {
		// The file is read from wherever the config goes: name it fully.
		if o.ClientSecretFile, err = filepath.Abs(o.ClientSecretFile); err != nil {
			return fmt.Errorf("init: --client-secret-file: %w", err)
		}
	}

	res, err := initcfg.Write(*out, o, *force)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	cfgPath := filepath.Join(*out, initcfg.ConfigFile)
	res.Summary(stdout, cfgPath)
	// What check-config would say, so nobody finds out at the first serve.
	cfg, err := config.Load(cfgPath, nil)
	if err == nil {
		_, err = app.New(cfg, slog.New(slog.DiscardHandler))
	}
	if err != nil {
		fmt.Fprintf(stdout, "\nBefore serving, fix what check-config reports now:\n%v\n", err)
	}
	return nil
}

// ask fills in what the flags left empty. Outside a terminal it only
// names the missing flags: a script never waits on a question. In a
// terminal (and only when a required value is missing, so a full command
// line stays quiet) it asks for every value not given.
func ask(questions []question, p process, prompts io.Writer) error {
	var missing []string
	for _, q := range questions {
		if q.required && *q.value == "" {
			missing = append(missing, "--"+q.flag)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if !p.interactive || p.stdin == nil {
		return usageError{fmt.Sprintf("init: missing %s (give them as flags, or run init in a terminal to be asked)", strings.Join(missing, ", "))}
	}
	in := bufio.NewScanner(p.stdin)
	for _, q := range questions {
		for *q.value == "" {
			fmt.Fprintf(prompts, "%s: ", q.prompt)
			if !in.Scan() {
				return usageError{fmt.Sprintf("init: no answer for --%s (input ended)", q.flag)}
			}
			answer := strings.TrimSpace(in.Text())
			if answer == "" && !q.required {
				break
			}
			if q.check != nil && answer != "" {
				if err := q.check(answer); err != nil {
					fmt.Fprintf(prompts, "  %v\n", err)
					continue
				}
			}
			*q.value = answer
		}
	}
	return nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http or https URL")
	}
	return nil
}

// checkTenants checks a comma-separated list of tenant ids.
func checkTenants(s string) error {
	ids := splitList(s)
	if len(ids) == 0 {
		return errors.New("give at least one tenant id")
	}
	for _, id := range ids {
		if !config.IsGUID(id) {
			return fmt.Errorf("%q is not a tenant id: use the Directory (tenant) ID GUID from the tenant's Overview page", id)
		}
	}
	return nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func checkOrigin(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return errors.New("must be an origin: scheme and host only, like https://shop.example.com")
	}
	return nil
}
