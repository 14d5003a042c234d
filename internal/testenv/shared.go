package testenv

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// signingKeyPEM is one RSA-2048 key shared by a test binary: generating
// keys is slow under -race, and tests only need a valid one.
var signingKeyPEM = sync.OnceValues(func() ([]byte, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
})

// SigningKeyFile writes the test binary's RSA-2048 signing key (PKCS#8 PEM)
// into a temp dir of t and returns its path.
func SigningKeyFile(t testing.TB) string {
	t.Helper()
	pemBytes, err := signingKeyPEM()
	if err != nil {
		t.Fatalf("testenv.SigningKeyFile: %v", err)
	}
	path := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatalf("testenv.SigningKeyFile: %v", err)
	}
	return path
}

// LogBuffer collects what a server under test logs; it is safe to write from
// the server's goroutines while the test reads it.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ReplaceSections appends the YAML extra to the YAML base, dropping the
// base's copy of every top-level key that extra sets, so a test can override
// whole sections of a base configuration (repeating a key is a YAML error).
func ReplaceSections(base, extra string) string {
	keys := map[string]bool{}
	for _, l := range strings.Split(extra, "\n") {
		if l != "" && l[0] != ' ' && l[0] != '-' && strings.Contains(l, ":") {
			keys[strings.SplitN(l, ":", 2)[0]] = true
		}
	}
	var out strings.Builder
	skip := false
	for _, l := range strings.SplitAfter(base, "\n") {
		if l != "" && l[0] != ' ' && l[0] != '-' {
			skip = keys[strings.SplitN(l, ":", 2)[0]]
		}
		if !skip {
			out.WriteString(l)
		}
	}
	return out.String() + extra
}
