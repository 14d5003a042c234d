package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

// MinBits is the smallest RSA key Omnichannel accepts for RS256.
const MinBits = 2048

// Key pair file names written by WriteKeyPair.
const (
	PrivateKeyFile = "lcw-signing-key.pem"
	PublicKeyFile  = "lcw-signing-key.pub.pem"
)

const keygenFix = "generate one with: lcw-auth-proxy keygen --out DIR"

// ParsePrivateKey reads an RSA private key of at least MinBits from PEM
// (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY"). Other blocks in the
// file, such as a certificate, are skipped. Every error says what to do.
func ParsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	var sawPublic, sawAny bool
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawAny = true
		switch block.Type {
		case "RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			return parsePrivateBlock(block)
		case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
			sawPublic = true
		}
	}
	switch {
	case sawPublic:
		return nil, errors.New("holds only a public key or certificate: signing_keys need the RSA private key (-----BEGIN PRIVATE KEY-----); " + keygenFix)
	case sawAny:
		return nil, errors.New("holds no private key block (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----); " + keygenFix)
	}
	return nil, errors.New("is not PEM: the file must hold an RSA private key starting with -----BEGIN PRIVATE KEY-----; " + keygenFix)
}

func parsePrivateBlock(block *pem.Block) (*rsa.PrivateKey, error) {
	if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, errors.New("is encrypted with a passphrase: store it unencrypted (openssl pkey -in KEY.pem -out PLAIN.pem) in a Secret only the proxy can read")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot parse the %s block: %v; %s", block.Type, err, keygenFix)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinBits {
			return nil, fmt.Errorf("is an RSA key of %d bits: Omnichannel needs at least %d; %s", bits, MinBits, keygenFix)
		}
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("is not a consistent RSA key: %v; %s", err, keygenFix)
		}
		k.Precompute()
		return k, nil
	case *ecdsa.PrivateKey:
		return nil, errors.New("is an EC key, but Omnichannel verifies only RS256, which needs an RSA key of at least 2048 bits; " + keygenFix)
	case ed25519.PrivateKey:
		return nil, errors.New("is an Ed25519 key, but Omnichannel verifies only RS256, which needs an RSA key of at least 2048 bits; " + keygenFix)
	default:
		return nil, fmt.Errorf("is a %T key, but Omnichannel verifies only RS256, which needs an RSA key; %s", key, keygenFix)
	}
}

// ParsePublicKeys reads every RSA public key in PEM data: SPKI "PUBLIC KEY"
// (as openssl rsa -pubout writes it), PKCS#1 "RSA PUBLIC KEY" or the key of
// a "CERTIFICATE".
func ParsePublicKeys(data []byte) ([]*rsa.PublicKey, error) {
	var out []*rsa.PublicKey
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var key any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				key = cert.PublicKey
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s block: %w", block.Type, err)
		}
		pub, ok := key.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("the %s block holds a %T key, not RSA: Omnichannel verifies only RS256", block.Type, key)
		}
		out = append(out, pub)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM public key found (expected -----BEGIN PUBLIC KEY-----)")
	}
	return out, nil
}

// PublicKeyPEM is the SPKI PEM ("PUBLIC KEY") of pub, the format
// Omnichannel's public key URL serves.
func PublicKeyPEM(pub *rsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil // only for keys that are not RSA, which the type rules out
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// PrivateKeyPEM is the PKCS#8 PEM ("PRIVATE KEY") of key.
func PrivateKeyPEM(key *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Thumbprint is the RFC 7638 JWK thumbprint of pub: the unpadded base64url
// SHA-256 of its canonical JWK, the kid of keys configured without one.
func Thumbprint(pub *rsa.PublicKey) string {
	// RFC 7638 §3.2: the required members only, in lexicographic order, no
	// whitespace; e and n are base64url without padding, so no escaping.
	canon := `{"e":"` + b64(big.NewInt(int64(pub.E)).Bytes()) + `","kty":"RSA","n":"` + b64(pub.N.Bytes()) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Generate makes a new RSA signing key; bits must be at least MinBits.
func Generate(bits int) (*rsa.PrivateKey, error) {
	if bits < MinBits {
		return nil, fmt.Errorf("%d bits is too small: Omnichannel needs at least %d (use 2048, 3072 or 4096)", bits, MinBits)
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("generate %d-bit RSA key: %w", bits, err)
	}
	return key, nil
}

// WriteKeyPair writes key to dir as PrivateKeyFile (PKCS#8 PEM, mode 0600)
// and PublicKeyFile (SPKI PEM, 0644), creating dir (0700) when needed. It
// never overwrites existing files: a key in use must be rotated on purpose.
func WriteKeyPair(dir string, key *rsa.PrivateKey) (privPath, pubPath string, err error) {
	privPEM, err := PrivateKeyPEM(key)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create key directory: %w", err)
	}
	privPath = filepath.Join(dir, PrivateKeyFile)
	pubPath = filepath.Join(dir, PublicKeyFile)
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("%s already exists: move it away or choose another --out directory", p)
		}
	}
	if err := writeNew(privPath, privPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(pubPath, PublicKeyPEM(&key.PublicKey), 0o644); err != nil {
		os.Remove(privPath)
		return "", "", err
	}
	return privPath, pubPath, nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
