package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate from files that may be replaced at
// run time (cert-manager, mounted Secrets): it looks at them at most every
// checkEvery, reloads when their content changed, and keeps the previous
// certificate when the new files do not load.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	checkEvery        time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string
	checkedAt time.Time
}

const certCheckEvery = 10 * time.Second

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, checkEvery: certCheckEvery}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// fileStamp hashes the files' contents: modification times survive neither
// Kubernetes' symlink swaps nor coarse file systems reliably.
func (r *certReloader) fileStamp() string {
	h := sha256.New()
	for _, f := range []string{r.certFile, r.keyFile} {
		data, _ := os.ReadFile(f) // an unreadable file changes the stamp; load reports it
		h.Write(data)
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}

func (r *certReloader) load() error {
	stamp := r.fileStamp()
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s: %w", r.certFile, err)
	}
	r.cert, r.stamp = &cert, stamp
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checkedAt) >= r.checkEvery {
		r.checkedAt = now
		if r.fileStamp() != r.stamp {
			if err := r.load(); err != nil {
				r.log.Error("keeping the previous TLS certificate", slog.String("error", err.Error()))
			} else {
				r.log.Info("TLS certificate reloaded", slog.String("file", r.certFile))
			}
		}
	}
	return r.cert, nil
}
