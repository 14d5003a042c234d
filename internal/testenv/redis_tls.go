package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// RedisTLS is what the clients of a TLS redis-server need: a test CA made
// for the one test, and a client certificate it signed.
type RedisTLS struct {
	CAFile   string // the CA (PEM), for session.redis.ca_file
	CertFile string // a client certificate (PEM), for tls_cert_file
	KeyFile  string // its key (PEM), for tls_key_file
	// Config trusts the CA and presents the client certificate.
	Config *tls.Config
}

// RedisTLSOptions shape StartRedisTLS's server.
type RedisTLSOptions struct {
	// RequireClientCert makes the server refuse clients without a
	// certificate its CA signed (tls-auth-clients yes); otherwise it asks
	// for none (tls-auth-clients no).
	RequireClientCert bool
}

// StartRedisTLS starts a redis-server that speaks TLS only (port 0 and
// tls-port) on a free loopback port, with a server certificate for
// 127.0.0.1 from a CA made for this test. extra are more redis-server
// arguments.
func StartRedisTLS(t testing.TB, o RedisTLSOptions, extra ...string) *Redis {
	t.Helper()
	dir := t.TempDir()
	r := &Redis{dir: dir, t: t, TLS: newRedisTLS(t, dir)}
	auth := "no"
	if o.RequireClientCert {
		auth = "yes"
	}
	args := append([]string{"--tls-cert-file", filepath.Join(dir, "server.crt"), "--tls-key-file", filepath.Join(dir, "server.key"),
		"--tls-ca-cert-file", r.TLS.CAFile, "--tls-auth-clients", auth}, extra...)
	return startRedisIn(t, r, freePort(t), args...)
}

// newRedisTLS writes a CA, a server certificate for 127.0.0.1 and a
// client certificate under dir.
func newRedisTLS(t testing.TB, dir string) *RedisTLS {
	t.Helper()
	caKey, caCert := newCert(t, "lcw test Redis CA", nil, nil, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid = true, true
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	})
	srvKey, srv := newCert(t, "127.0.0.1", caKey, caCert, func(c *x509.Certificate) {
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		c.DNSNames = []string{"localhost"}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	})
	cliKey, cli := newCert(t, "lcw-auth-proxy", caKey, caCert, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	o := &RedisTLS{CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "client.crt"), KeyFile: filepath.Join(dir, "client.key")}
	writePEM(t, o.CAFile, "CERTIFICATE", caCert.Raw)
	writePEM(t, filepath.Join(dir, "server.crt"), "CERTIFICATE", srv.Raw)
	writeKey(t, filepath.Join(dir, "server.key"), srvKey)
	writePEM(t, o.CertFile, "CERTIFICATE", cli.Raw)
	writeKey(t, o.KeyFile, cliKey)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		t.Fatalf("testenv: client certificate: %v", err)
	}
	o.Config = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	return o
}

// newCert makes a certificate for cn signed by parent (self-signed when
// parent is nil), shaped by edit.
func newCert(t testing.TB, cn string, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, edit func(*x509.Certificate)) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	edit(tmpl)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatalf("testenv: certificate %s: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func writeKey(t testing.TB, path string, key *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, path, "PRIVATE KEY", der)
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
