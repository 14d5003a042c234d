package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
)

// cookieSecretFile holds the session cookie secret in the state directory.
const cookieSecretFile = "cookie-secret"

// demoKeyBits is the signing key size: Omnichannel's minimum and the
// product's default.
const demoKeyBits = 2048

// stateDir returns the directory for the demo's key, secret and config:
// dir when given (created if needed, kept afterwards), else a new temporary
// directory that cleanup removes.
func stateDir(dir string) (path string, cleanup func(), err error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", nil, fmt.Errorf("create state directory %s: %w", dir, err)
		}
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "lcw-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("create temporary state directory: %w", err)
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// ensureSigningKey returns the path of the demo's RSA signing key in dir,
// generating and writing it (with the public key beside it) with the
// product's key helpers when it is not there yet. Reusing it keeps the
// public key stable across runs of one --state directory.
func ensureSigningKey(dir string) (string, error) {
	path := filepath.Join(dir, keys.PrivateKeyFile)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("signing key %s: %w", path, err)
	}
	key, err := keys.Generate(demoKeyBits)
	if err != nil {
		return "", err
	}
	priv, _, err := keys.WriteKeyPair(dir, key)
	if err != nil {
		return "", fmt.Errorf("write signing key: %w", err)
	}
	return priv, nil
}

// ensureCookieSecret returns the path of the session cookie secret in dir
// (32 random bytes, base64), creating it when it is not there yet.
func ensureCookieSecret(dir string) (string, error) {
	path := filepath.Join(dir, cookieSecretFile)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("cookie secret %s: %w", path, err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("generate cookie secret: %w", err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write cookie secret: %w", err)
	}
	return path, nil
}

// stateFile remembers, in a --state directory, what the next start must
// reproduce: the loopback addresses the demo's servers got (so the IdP's
// issuer, the site and the proxy's URL stay the same, and bookmarks and
// the IdP's cookies keep working) and the values lcw-demo last wrote into
// the keys of config.yaml it manages (to tell its own changes from the
// user's).
const stateFile = "demo-state.json"

// demoState is stateFile's content.
type demoState struct {
	// Addrs maps a server ("proxy", "idp", "site", "widget") to its
	// host:port.
	Addrs map[string]string `json:"addrs"`
	// Managed maps a config key lcw-demo sets to the value it last wrote.
	Managed map[string]string `json:"managed"`
}

// loadState reads dir's state; a missing file is a first start.
func loadState(dir string) (demoState, error) {
	s := demoState{Addrs: map[string]string{}, Managed: map[string]string{}}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read %s: %w", stateFile, err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%s in %s is damaged (%v): delete it; the demo then picks new ports", stateFile, dir, err)
	}
	if s.Addrs == nil {
		s.Addrs = map[string]string{}
	}
	if s.Managed == nil {
		s.Managed = map[string]string{}
	}
	return s, nil
}

// save writes the state into dir.
func (s demoState) save(dir string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", stateFile, err)
	}
	return nil
}

// listenRemembered opens a loopback listener for server name: on the
// address remembered for it when there is one and it is free, else on
// fallback (a :0 address). note explains a fallback; the caller says it
// out loud.
func (s demoState) listenRemembered(name, fallback string) (ln net.Listener, note string, err error) {
	if addr := s.Addrs[name]; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln, "", nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, "", fmt.Errorf("listen for the %s on %s: %w", name, addr, err)
		}
		note = fmt.Sprintf("the %s's port %s (remembered in %s) is taken by another program; using a new one", name, addr, stateFile)
	}
	ln, err = net.Listen("tcp", fallback)
	if err != nil {
		return nil, "", fmt.Errorf("listen for the %s: %w", name, err)
	}
	return ln, note, nil
}
