package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
