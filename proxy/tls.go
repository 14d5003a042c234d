package proxy

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/filewatch"
)

// certReloader serves the certificate from files that may be replaced at
// run time (cert-manager, mounted Secrets): it looks at them at most every
// checkEvery, reloads when their content changed, and keeps the previous
// certificate when the new files do not load.
type certReloader struct {
	certFile   string
	files      *filewatch.Value[*tls.Certificate]
	log        *slog.Logger
	checkEvery time.Duration

	mu        sync.Mutex
	checkedAt time.Time
}

const certCheckEvery = 10 * time.Second

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	parse := func(pem [][]byte) (*tls.Certificate, error) {
		cert, err := tls.X509KeyPair(pem[0], pem[1])
		if err != nil {
			return nil, err
		}
		return &cert, nil
	}
	files, err := filewatch.Load(parse, certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s: %w", certFile, err)
	}
	return &certReloader{certFile: certFile, files: files, log: log, checkEvery: certCheckEvery}, nil
}

// GetCertificate is tls.Config.GetCertificate. It checks the files here,
// not on a timer, so an idle server reads nothing.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checkedAt) >= r.checkEvery {
		r.checkedAt = now
		changed, err := r.files.Check()
		switch {
		case err != nil:
			err = fmt.Errorf("load TLS certificate %s: %w", r.certFile, err)
			r.log.Error("keeping the previous TLS certificate", slog.String("error", err.Error()))
		case changed:
			r.log.Info("TLS certificate reloaded", slog.String("file", r.certFile))
		}
	}
	return r.files.Get(), nil
}
