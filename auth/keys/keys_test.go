package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

var (
	testKeysOnce sync.Once
	testKeys     [3]*rsa.PrivateKey
)

// key returns one of three 2048-bit keys generated once per test binary.
func key(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	testKeysOnce.Do(func() {
		for j := range testKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			testKeys[j] = k
		}
	})
	return testKeys[i]
}

func pkcs8(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key(t, 0).PublicKey)

	cases := []struct {
		name string
		data []byte
		want string // error text; empty: the key parses
	}{
		{"PKCS#8", pkcs8(t, key(t, 0)), ""},
		{"PKCS#1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key(t, 0))}), ""},
		{"key after a certificate block", append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}), pkcs8(t, key(t, 0))...), ""},
		{"1024 bits", pkcs8(t, small), "is an RSA key of 1024 bits: Omnichannel needs at least 2048; generate one with: lcw-auth-proxy keygen --out DIR"},
		{"EC (SEC 1)", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), "is an EC key, but Omnichannel verifies only RS256, which needs an RSA key of at least 2048 bits; generate one with: lcw-auth-proxy keygen"},
		{"EC (PKCS#8)", pkcs8(t, ec), "is an EC key, but Omnichannel verifies only RS256"},
		{"Ed25519", pkcs8(t, ed), "is an Ed25519 key, but Omnichannel verifies only RS256"},
		{"garbage", []byte("hello, not a key"), "is not PEM: the file must hold an RSA private key starting with -----BEGIN PRIVATE KEY-----; generate one with: lcw-auth-proxy keygen"},
		{"garbage inside PEM", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}), "cannot parse the PRIVATE KEY block"},
		{"public key only", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), "holds only a public key or certificate: signing_keys need the RSA private key"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("x")}), "is encrypted with a passphrase"},
		{"other block", pem.EncodeToMemory(&pem.Block{Type: "DH PARAMETERS", Bytes: []byte("x")}), "holds no private key block"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePrivateKey(tc.data)
			if tc.want == "" {
				if err != nil || k == nil {
					t.Fatalf("ParsePrivateKey: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadErrorNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "ec.pem")
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	writeFile(t, bad, pkcs8(t, ec))
	_, err := Load([]config.SigningKey{{File: bad}}, Options{})
	want := "load signing key " + bad + ": the file is an EC key"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want %q", err, want)
	}

	good := filepath.Join(dir, "k.pem")
	writeFile(t, good, pkcs8(t, key(t, 0)))
	same := filepath.Join(dir, "same.pem")
	writeFile(t, same, pkcs8(t, key(t, 0)))
	_, err = Load([]config.SigningKey{{File: good}, {File: same}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "have the same kid") {
		t.Fatalf("duplicate key: error = %v", err)
	}
}

func TestThumbprintRFC7638Example(t *testing.T) {
	// RFC 7638 §3.1.
	n, _ := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	if got, want := Thumbprint(pub), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("Thumbprint = %s, want %s", got, want)
	}
	// And agree with an independent implementation on a generated key.
	tp, err := (&jose.JSONWebKey{Key: &key(t, 1).PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Thumbprint(&key(t, 1).PublicKey), base64.RawURLEncoding.EncodeToString(tp); got != want {
		t.Fatalf("Thumbprint = %s, go-jose says %s", got, want)
	}
}

func TestLoadKidsAndOrder(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pem"), filepath.Join(dir, "b.pem")
	writeFile(t, a, pkcs8(t, key(t, 0)))
	writeFile(t, b, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key(t, 1))}))
	s, err := Load([]config.SigningKey{{File: a, Kid: "2024-a"}, {File: b}}, Options{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	kid, k := s.Signer()
	if kid != "2024-a" || !k.Equal(key(t, 0)) {
		t.Fatalf("Signer = %s, want the first configured key with its configured kid", kid)
	}
	pub := s.Published()
	if len(pub) != 2 || pub[0].Kid != "2024-a" || pub[1].Kid != Thumbprint(&key(t, 1).PublicKey) {
		t.Fatalf("Published kids = %v", kidsOf(pub))
	}
	if !pub[1].Key.Equal(&key(t, 1).PublicKey) {
		t.Fatal("second published key is not b.pem's")
	}
	if !pub[0].Expiry.After(time.Now().Add(time.Hour)) {
		t.Fatalf("active key expiry %v is not beyond now + grace", pub[0].Expiry)
	}
}

func kidsOf(pub []PublicKey) []string {
	var out []string
	for _, p := range pub {
		out = append(out, p.Kid)
	}
	return out
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestReloadRotationGraceAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "k.pem")
	writeFile(t, file, pkcs8(t, key(t, 0)))
	clk := &clock{t: time.Date(2025, 3, 1, 10, 30, 0, 0, time.UTC)}
	m := metrics.New()
	s, err := Load([]config.SigningKey{{File: file}}, Options{Grace: 24 * time.Hour, Metrics: m, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	kid1, _ := s.Signer()

	// Nothing changed: nothing counted.
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(m.KeyReloads.WithLabelValues("ok")); n != 0 {
		t.Fatalf("reload of an unchanged file counted %v", n)
	}

	// Rotate: the new key signs, the old one stays published until grace.
	writeFile(t, file, pkcs8(t, key(t, 1)))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	kid2, _ := s.Signer()
	if kid2 == kid1 || kid2 != Thumbprint(&key(t, 1).PublicKey) {
		t.Fatalf("after rotation Signer kid = %s", kid2)
	}
	pub := s.Published()
	if len(pub) != 2 || pub[0].Kid != kid2 || pub[1].Kid != kid1 {
		t.Fatalf("Published = %v, want [new, old]", kidsOf(pub))
	}
	if want := clk.Now().Add(24 * time.Hour); !pub[1].Expiry.Equal(want) {
		t.Fatalf("retired expiry = %v, want %v", pub[1].Expiry, want)
	}
	if want := time.Date(2025, 3, 2, 11, 0, 0, 0, time.UTC); !pub[0].Expiry.Equal(want) {
		t.Fatalf("active expiry = %v, want %v (next hour + grace)", pub[0].Expiry, want)
	}

	// A broken file keeps the current key, is counted once, and reported.
	writeFile(t, file, []byte("-----BEGIN PRIVATE KEY-----\nbroken"))
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("Reload of a broken file: %v", err)
	}
	if err := s.Reload(); err == nil {
		t.Fatal("second Reload of the broken file reported nothing")
	}
	if kid, _ := s.Signer(); kid != kid2 {
		t.Fatalf("broken file replaced the signer: %s", kid)
	}
	if n := testutil.ToFloat64(m.KeyReloads.WithLabelValues("error")); n != 1 {
		t.Fatalf("errors counted %v, want 1 (the same bad content once)", n)
	}
	if n := testutil.ToFloat64(m.KeyReloads.WithLabelValues("ok")); n != 1 {
		t.Fatalf("ok counted %v, want 1", n)
	}

	// A removed file keeps the key too.
	os.Remove(file)
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of a missing file reported nothing")
	}
	if kid, _ := s.Signer(); kid != kid2 {
		t.Fatalf("missing file replaced the signer: %s", kid)
	}

	// After the grace period the old key is no longer published.
	clk.Add(24*time.Hour + time.Second)
	_ = s.Reload()
	if pub := s.Published(); len(pub) != 1 || pub[0].Kid != kid2 {
		t.Fatalf("after grace Published = %v, want only %s", kidsOf(pub), kid2)
	}
}

// TestRunFollowsKubernetesSecretSwap rotates the key the way the kubelet
// updates a mounted Secret: the key file is a symlink into ..data, and only
// the ..data symlink is swapped. The new file is given the old one's mtime,
// so only a content comparison can notice.
func TestRunFollowsKubernetesSecretSwap(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"..2025_03_01_a", "..2025_03_01_b"} {
		os.Mkdir(filepath.Join(dir, name), 0o700)
		writeFile(t, filepath.Join(dir, name, "tls.key"), pkcs8(t, key(t, i)))
	}
	if err := os.Symlink("..2025_03_01_a", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "tls.key")
	os.Symlink("..data/tls.key", link)
	oldInfo, _ := os.Stat(link)
	os.Chtimes(filepath.Join(dir, "..2025_03_01_b", "tls.key"), oldInfo.ModTime(), oldInfo.ModTime())

	s, err := Load([]config.SigningKey{{File: link}}, Options{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, 5*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	// Readers run concurrently with reloads (the race detector checks this).
	go func() {
		for ctx.Err() == nil {
			s.Signer()
			s.Published()
		}
	}()

	tmp := filepath.Join(dir, "..data_tmp")
	os.Symlink("..2025_03_01_b", tmp)
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	want := Thumbprint(&key(t, 1).PublicKey)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if kid, _ := s.Signer(); kid == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the swapped Secret was never picked up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if pub := s.Published(); len(pub) != 2 || pub[1].Kid != Thumbprint(&key(t, 0).PublicKey) {
		t.Fatalf("Published = %v, want new and retired", kidsOf(pub))
	}
}

func TestGenerateAndWriteKeyPair(t *testing.T) {
	if _, err := Generate(1024); err == nil || !strings.Contains(err.Error(), "at least 2048") {
		t.Fatalf("Generate(1024) = %v, want a refusal", err)
	}
	dir := filepath.Join(t.TempDir(), "new")
	priv, pub, err := WriteKeyPair(dir, key(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(priv); fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(priv)
	if !strings.HasPrefix(string(data), "-----BEGIN PRIVATE KEY-----") {
		t.Fatal("private key is not PKCS#8 PEM")
	}
	k, err := ParsePrivateKey(data)
	if err != nil || !k.Equal(key(t, 2)) {
		t.Fatalf("written private key does not read back: %v", err)
	}
	pubData, _ := os.ReadFile(pub)
	pubs, err := ParsePublicKeys(pubData)
	if err != nil || len(pubs) != 1 || !pubs[0].Equal(&key(t, 2).PublicKey) {
		t.Fatalf("written public key does not read back: %v", err)
	}
	if string(pubData) != string(PublicKeyPEM(&key(t, 2).PublicKey)) || !strings.HasPrefix(string(pubData), "-----BEGIN PUBLIC KEY-----") {
		t.Fatal("public key file is not the SPKI PEM")
	}
	if _, _, err := WriteKeyPair(dir, key(t, 1)); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second WriteKeyPair = %v, want a refusal to overwrite", err)
	}
	if again, _ := os.ReadFile(priv); string(again) != string(data) {
		t.Fatal("existing private key was overwritten")
	}
}

func TestParsePublicKeys(t *testing.T) {
	spki := PublicKeyPEM(&key(t, 0).PublicKey)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key(t, 1).PublicKey)})
	got, err := ParsePublicKeys(append(spki, pkcs1...))
	if err != nil || len(got) != 2 || !got[0].Equal(&key(t, 0).PublicKey) || !got[1].Equal(&key(t, 1).PublicKey) {
		t.Fatalf("ParsePublicKeys = %v, %v", got, err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if _, err := ParsePublicKeys(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})); err == nil || !strings.Contains(err.Error(), "not RSA") {
		t.Fatalf("EC public key: %v", err)
	}
	if _, err := ParsePublicKeys([]byte("nothing")); err == nil {
		t.Fatal("no PEM accepted")
	}
}
