package proxy

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// writeTestCert writes a fresh self-signed certificate and key (from
// httptest) into dir and returns its DER.
func writeTestCert(t *testing.T, dir string) []byte {
	t.Helper()
	s := httptest.NewUnstartedServer(nil)
	s.StartTLS()
	cert := s.TLS.Certificates[0]
	s.Close()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	return cert.Certificate[0]
}

func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	first := writeTestCert(t, dir)
	r, err := newCertReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.checkEvery = 0
	got, _ := r.GetCertificate(nil)
	if string(got.Certificate[0]) != string(first) {
		t.Fatal("not the first certificate")
	}
	// A broken replacement keeps the working certificate.
	_ = os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("garbage"), 0o600)
	if got, _ := r.GetCertificate(nil); string(got.Certificate[0]) != string(first) {
		t.Fatal("a broken file replaced the certificate")
	}
	// A valid replacement is picked up.
	second := writeTestCert(t, dir)
	if got, _ := r.GetCertificate(nil); string(got.Certificate[0]) != string(second) {
		t.Fatal("the new certificate was not loaded")
	}
}
