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
	// DirNotes warn about an existing directory others can read, or (a
	// group, or everyone with force) write to.
	DirNotes []string
	// Registration holds the values to enter at the IdP and in Omnichannel.
	Registration Registration
}

// Registration is what the IdP and Omnichannel need to know about this
// deployment.
type Registration struct {
	ClientID, Scopes                                                                string
	RedirectURI, PostLogoutRedirectURI, BackchannelLogoutURI, FrontchannelLogoutURI string
	PublicKeyURL, PublicKeysURL, ClientFunction                                     string
}

// Write renders o into dir/config.yaml and writes a new signing key pair
// and cookie secret beside it. dir is created (mode 0700) when missing. A
// directory every user can write to (such as /tmp, sticky bit or not) is
// refused unless force: others could replace the secrets, or plant a link
// where one goes before it is written. Existing files are never replaced
// unless force, which replaces them all (a new signing key then needs
// nothing at Omnichannel, which fetches the public key URL, but tokens
// signed with the old key stop verifying); what is not a regular file (a
// link someone planted) is refused even then. Files are created, never
// opened through a link.
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
	if res.DirNotes, err = prepareDir(abs, force); err != nil {
		return nil, err
	}
	if err := clearOld(abs, force); err != nil {
		return nil, err
	}

	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate the cookie secret: %w", err)
	}
	key, err := keys.Generate(keyBits)
	if err != nil {
		return nil, err
	}
	privPEM, err := keys.PrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	var written []string
	for _, f := range []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{CookieSecretFile, []byte(base64.StdEncoding.EncodeToString(secret) + "\n"), secretMode},
		{keys.PrivateKeyFile, privPEM, secretMode},
		{keys.PublicKeyFile, keys.PublicKeyPEM(&key.PublicKey), publicMode},
		{ConfigFile, text, publicMode},
		{GitignoreFile, []byte("# Written by lcw-auth-proxy init: secrets, never to be committed.\n" + CookieSecretFile + "\n" + keys.PrivateKeyFile + "\n"), publicMode},
	} {
		p := filepath.Join(abs, f.name)
		if err := writeFile(p, f.data, f.mode); err != nil {
			for _, w := range written { // all or nothing: a rerun finds no half set
				os.Remove(w)
			}
			return nil, err
		}
		written = append(written, p)
	}
	res.Files = []Written{
		{ConfigFile, publicMode, "the configuration, from " + res.From},
		{CookieSecretFile, secretMode, "the session cookie key (32 random bytes, base64)"},
		{keys.PrivateKeyFile, secretMode, "the key that signs chat tokens"},
		{keys.PublicKeyFile, publicMode, "its public key (the proxy serves it; kept for reference)"},
		{GitignoreFile, publicMode, "keeps the two secrets out of git, should this directory be in a repository"},
	}
	res.Registration, err = registration(text, logoutOf(o.IdP))
	if err != nil {
		return nil, err
	}
	return res, nil
}

// prepareDir makes sure dir is a directory init may write secrets into and
// returns notes on what others can do there. A missing dir is created 0700
// (with Mkdir, so one that appears meanwhile is checked like any other).
func prepareDir(dir string, force bool) ([]string, error) {
	if err := os.MkdirAll(filepath.Dir(dir), dirMode); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("output directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return dirNotes(dir, fi.Mode(), force)
}

// dirNotes judges an output directory by its mode: writable by everyone is
// refused unless force (the sticky bit of /tmp keeps others from removing
// files, not from creating them first), writable by the group and
// readable by others are noted.
func dirNotes(dir string, mode fs.FileMode, force bool) ([]string, error) {
	perm := mode.Perm()
	var notes []string
	if perm&0o002 != 0 {
		why := fmt.Sprintf("%s is writable by every user (mode %04o", dir, perm)
		if mode&fs.ModeSticky != 0 {
			why += ", sticky: others cannot delete files there, but they can create them first, such as a link where a secret goes"
		}
		why += "): anyone on this machine could replace the secrets init writes there"
		if !force {
			return nil, fmt.Errorf("%s; run chmod o-w %s (better: chmod 700), or choose a directory of your own with --out (init creates a missing one with mode 0700); --force writes there anyway", why, dir)
		}
		notes = append(notes, "written although "+why+" (--force); move them to a directory of your own, or chmod o-w it")
	} else if perm&0o020 != 0 {
		notes = append(notes, fmt.Sprintf("%s is writable by its group (mode %04o): members could replace the secrets; chmod g-w it unless they should", dir, perm))
	}
	if perm&0o077 != 0 && perm&0o022 == 0 {
		notes = append(notes, fmt.Sprintf("%s already existed with mode %04o: other users can list it (the secrets themselves are 0600); chmod 700 it if they should not", dir, perm))
	}
	return notes, nil
}

// clearOld refuses to touch a directory already holding init's files
// unless force, and then removes them. Anything there that is not a
// regular file (a link, a fifo) is refused even with force: init did not
// write it, and following it could write a secret somewhere else.
func clearOld(dir string, force bool) error {
	var existing []string
	for _, n := range []string{ConfigFile, CookieSecretFile, keys.PrivateKeyFile, keys.PublicKeyFile, GitignoreFile} {
		fi, err := os.Lstat(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		if force && !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is a %s, not a file init wrote: init writes no secret through it; remove it if it is yours", filepath.Join(dir, n), fileKind(fi.Mode()))
		}
		existing = append(existing, n)
	}
	if len(existing) > 0 && !force {
		return fmt.Errorf("%s already holds %s: choose another directory, or add --force to replace them (a new signing key invalidates tokens signed with the old one; the session secret signs everyone out)",
			dir, strings.Join(existing, ", "))
	}
	for _, n := range existing {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("replace %s: %w", n, err)
		}
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	default:
		return "special file"
	}
}

// writeFile creates path (never replacing a file, never through a link:
// O_EXCL already fails on one, O_NOFOLLOW says so where the platform has
// it) with exactly mode, whatever the umask. Chmod goes through the open
// file, not the path, which may have been swapped since.
func writeFile(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, mode)
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
// they are what the configuration says; a logout URI the IdP has no place
// for is left empty (and not printed).
func registration(text []byte, lo Logout) (Registration, error) {
	c := config.Default()
	if err := yaml.Unmarshal(text, &c); err != nil {
		return Registration{}, fmt.Errorf("read back the configuration: %w", err)
	}
	public, paths := strings.TrimSuffix(c.PublicURL, "/"), config.NewPaths(strings.TrimSuffix(c.Prefix, "/"))
	return Registration{
		ClientID:              c.OIDC.ClientID,
		Scopes:                strings.Join(c.OIDC.Scopes, " "),
		RedirectURI:           public + paths.Callback,
		PostLogoutRedirectURI: ifOffered(lo.RP, public+c.OIDC.PostLogoutRedirectPath),
		BackchannelLogoutURI:  ifOffered(lo.Backchannel, public+paths.BackchannelLogout),
		FrontchannelLogoutURI: ifOffered(lo.Frontchannel, public+paths.FrontchannelLogout),
		PublicKeyURL:          public + paths.PublicKeyPEM,
		PublicKeysURL:         public + paths.PublicKeys,
		ClientFunction:        c.Inject.ClientFunction,
	}, nil
}

func ifOffered(offered bool, uri string) string {
	if !offered {
		return ""
	}
	return uri
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
	for _, n := range r.DirNotes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	g := r.Registration
	fmt.Fprintf(&b, "\nRegister the proxy at the identity provider (client ID %s, scopes %s):\n  Redirect URI:              %s\n", g.ClientID, g.Scopes, g.RedirectURI)
	for _, l := range [][3]string{
		{"Post-logout redirect URI:", g.PostLogoutRedirectURI, ""},
		{"Back-channel logout URI: ", g.BackchannelLogoutURI, "(when the server-side session store is enabled)"},
		{"Front-channel logout URI:", g.FrontchannelLogoutURI, "(cross-site it needs the server-side session store: see the README's Single logout)"},
	} {
		if l[1] == "" {
			continue
		}
		fmt.Fprintf(&b, "  %s  %s\n", l[0], l[1])
		if l[2] != "" {
			fmt.Fprintf(&b, "                             %s\n", l[2])
		}
	}
	fmt.Fprintf(&b, `
In Omnichannel's chat authentication setting enter:
  Public key URL:              %s
                               (Omnichannel's multi-key format: keys rotate without a change there; or %s)
  JavaScript client function:  %s

Then:
  lcw-auth-proxy check-config --config %s --online
  lcw-auth-proxy serve --config %[4]s
`, g.PublicKeysURL, g.PublicKeyURL, g.ClientFunction, configPath)
	_, _ = io.WriteString(w, b.String()) // nowhere to report a failed write to stdout
}
