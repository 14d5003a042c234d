package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"
)

// PrivateCA is a certificate authority made for one test, as the private
// CA an IdP such as ADFS sits behind: CAFile for oidc.ca_file, and Server,
// the TLS server configuration of a certificate it signed for 127.0.0.1
// and localhost (OPOptions.TLS).
type PrivateCA struct {
	CAFile string
	Server *tls.Config
	// Pool holds the CA, for a browser client that trusts it.
	Pool *x509.CertPool
}

// NewPrivateCA makes a CA and a loopback server certificate under the
// test's temporary directory.
func NewPrivateCA(t testing.TB) *PrivateCA {
	t.Helper()
	caKey, ca := newCert(t, "lcw test private CA", nil, nil, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid = true, true
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	})
	srvKey, srv := newCert(t, "127.0.0.1", caKey, ca, func(c *x509.Certificate) {
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		c.DNSNames = []string{"localhost"}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	path := filepath.Join(t.TempDir(), "private-ca.pem")
	writePEM(t, path, "CERTIFICATE", ca.Raw)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &PrivateCA{
		CAFile: path,
		Pool:   pool,
		Server: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{{Certificate: [][]byte{srv.Raw, ca.Raw}, PrivateKey: srvKey}},
		},
	}
}
