package initcfg

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// File modes: secrets and the private key for the proxy's user only; the
// configuration and the public key hold nothing secret.
const (
	dirMode    = 0o700
	secretMode = 0o600
	publicMode = 0o644
)

// keyBits is the size of the signing key init makes: Omnichannel's
// minimum, and keygen's default.
const keyBits = 2048

// Written is one file Write wrote.
type Written struct {
	Name string
	Mode fs.FileMode
	What string
}

// Result is what Write did and what the user must do next.
type Result struct {
	Dir   string // absolute
	From  string // the template
	Files []Written
	// DirNote, when set, warns about an existing directory others can read.
	DirNote string
	// Registration holds the values to enter at the IdP and in Omnichannel.
	Registration Registration
}

// Registration is what the IdP and Omnichannel need to know about this
// deployment.
type Registration struct {
	ClientID, Scopes                                         string
	RedirectURI, PostLogoutRedirectURI, BackchannelLogoutURI string
	PublicKeyURL, PublicKeysURL, ClientFunction              string
}

// Write renders o into dir/config.yaml and writes a new signing key pair
// and cookie secret beside it. dir is created (mode 0700) when missing.
// Existing files are never replaced unless force, which replaces them all
// (a new signing key then needs nothing at Omnichannel, which fetches the
// public key URL, but tokens signed with the old key stop verifying).
func Write(dir string, o Options, force bool) (*Result, error) {
	o.SigningKeyFile = keys.PrivateKeyFile
	text, err := Render(o)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("output directory %s: %w", dir, err)
	}
	res := &Result{Dir: abs}
	_, res.From, _ = template(o.IdP)
	if fi, err := os.Stat(abs); err == nil {
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a directory", abs)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			res.DirNote = fmt.Sprintf("%s already existed with mode %04o: other users can list it (the secrets themselves are 0600); chmod 700 it if they should not", abs, fi.Mode().Perm())
		}
	} else if err := os.MkdirAll(abs, dirMode); err != nil {
		return nil, fmt.Errorf("create %s: %w", abs, err)
	}

	names := []string{ConfigFile, CookieSecretFile, keys.PrivateKeyFile, keys.PublicKeyFile}
	var existing []string
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(abs, n)); err == nil {
			existing = append(existing, n)
		}
	}
	if len(existing) > 0 && !force {
		return nil, fmt.Errorf("%s already holds %s: choose another directory, or add --force to replace them (a new signing key invalidates tokens signed with the old one; the session secret signs everyone out)",
			abs, strings.Join(existing, ", "))
	}
	for _, n := range existing {
		if err := os.Remove(filepath.Join(abs, n)); err != nil {
			return nil, fmt.Errorf("replace %s: %w", n, err)
		}
	}

	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate the cookie secret: %w", err)
	}
	if err := writeFile(filepath.Join(abs, CookieSecretFile), []byte(base64.StdEncoding.EncodeToString(secret)+"\n"), secretMode); err != nil {
		return nil, err
	}
	key, err := keys.Generate(keyBits)
	if err != nil {
		return nil, err
	}
	priv, pub, err := keys.WriteKeyPair(abs, key)
	if err != nil {
		return nil, err
	}
	// WriteKeyPair's modes pass through the umask; these are documented.
	for p, m := range map[string]fs.FileMode{priv: secretMode, pub: publicMode} {
		if err := os.Chmod(p, m); err != nil {
			return nil, err
		}
	}
	if err := writeFile(filepath.Join(abs, ConfigFile), text, publicMode); err != nil {
		return nil, err
	}
	res.Files = []Written{
		{ConfigFile, publicMode, "the configuration, from " + res.From},
		{CookieSecretFile, secretMode, "the session cookie key (32 random bytes, base64)"},
		{keys.PrivateKeyFile, secretMode, "the key that signs chat tokens"},
		{keys.PublicKeyFile, publicMode, "its public key (the proxy serves it; kept for reference)"},
	}
	res.Registration, err = registration(text)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// writeFile creates path (never replacing a file) with exactly mode,
// whatever the umask.
func writeFile(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, werr := f.Write(data)
	cerr := f.Chmod(mode)
	if err := errors.Join(werr, cerr, f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// registration reads the registration values from the rendered text, so
// they are what the configuration says.
func registration(text []byte) (Registration, error) {
	c := config.Default()
	if err := yaml.Unmarshal(text, &c); err != nil {
		return Registration{}, fmt.Errorf("read back the configuration: %w", err)
	}
	public, prefix := strings.TrimSuffix(c.PublicURL, "/"), strings.TrimSuffix(c.Prefix, "/")
	return Registration{
		ClientID:              c.OIDC.ClientID,
		Scopes:                strings.Join(c.OIDC.Scopes, " "),
		RedirectURI:           public + prefix + "/callback",
		PostLogoutRedirectURI: public + c.OIDC.PostLogoutRedirectPath,
		BackchannelLogoutURI:  public + prefix + "/backchannel-logout",
		PublicKeyURL:          public + prefix + "/public-key.pem",
		PublicKeysURL:         public + prefix + "/public-keys",
		ClientFunction:        c.Inject.ClientFunction,
	}, nil
}

// Summary tells what was written and what to register where; configPath
// is the config file as the user should type it in the next commands.
func (r *Result) Summary(w io.Writer, configPath string) {
	var b strings.Builder
	fmt.Fprintf(&b, "Wrote to %s:\n", r.Dir)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, f := range r.Files {
		fmt.Fprintf(tw, "  %s\t%04o\t%s\n", f.Name, f.Mode, f.What)
	}
	_ = tw.Flush() // into a strings.Builder: cannot fail
	if r.DirNote != "" {
		fmt.Fprintf(&b, "Note: %s\n", r.DirNote)
	}
	g := r.Registration
	fmt.Fprintf(&b, `
Register the proxy at the identity provider (client ID %s, scopes %s):
  Redirect URI:              %s
  Post-logout redirect URI:  %s
  Back-channel logout URI:   %s
                             (when the server-side session store is enabled)

In Omnichannel's chat authentication setting enter:
  Public key URL:              %s
                               (or %s, Omnichannel's multi-key format, to rotate keys without a change there)
  JavaScript client function:  %s

Then:
  lcw-auth-proxy check-config --config %s --online
  lcw-auth-proxy serve --config %[9]s
`, g.ClientID, g.Scopes, g.RedirectURI, g.PostLogoutRedirectURI, g.BackchannelLogoutURI, g.PublicKeyURL, g.PublicKeysURL, g.ClientFunction, configPath)
	_, _ = io.WriteString(w, b.String()) // nowhere to report a failed write to stdout
}
