// Package keys holds the chat token's RSA signing keys: it loads them from
// PEM files, re-reads the files when their content changes (a Kubernetes
// Secret rotation needs no restart) and keeps retired keys published for a
// grace period so tokens signed before a rotation still verify.
package keys

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/filewatch"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

// PublicKey is one published verification key.
type PublicKey struct {
	Kid string
	Key *rsa.PublicKey
	// Expiry is when the key stops being published. For a retired key it is
	// the retirement time plus the grace period. For an active key it is the
	// next full hour plus the grace period: the earliest the key could
	// disappear if it were retired now, rounded so that the published
	// documents (and their ETags) change at most once an hour.
	Expiry time.Time
}

// Options tune a Set; the zero value works (no grace, no logs, no metrics).
type Options struct {
	// Grace is how long a key that left the files stays published.
	Grace time.Duration
	// Logger receives reload events; nil discards them.
	Logger *slog.Logger
	// Metrics counts reloads in KeyReloads; nil counts nothing.
	Metrics *metrics.Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Set is the current signing key and every published key. It is safe for
// concurrent use: readers see one immutable snapshot.
type Set struct {
	files []config.SigningKey
	opts  Options
	cur   atomic.Pointer[snapshot]

	mu    sync.Mutex                // serialises reloads
	watch []*filewatch.Value[entry] // one per file, in config order
}

type entry struct {
	kid string
	key *rsa.PrivateKey
}

// snapshot is never modified after it is stored.
type snapshot struct {
	active  []entry // one per configured file, in config order; the first signs
	retired []PublicKey
}

// Load reads every configured key. It fails when any file is unreadable, not
// an RSA key of at least MinBits, or when two keys share a kid: start-up is
// the time to find out.
func Load(files []config.SigningKey, opts Options) (*Set, error) {
	if len(files) == 0 {
		return nil, errors.New("no signing keys configured: add token.signing_keys (create a key with lcw-auth-proxy keygen --out DIR)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Set{files: files, opts: opts}
	snap := &snapshot{}
	kids := map[string]string{}
	for _, f := range files {
		w, err := filewatch.Load(keyParser(f), f.File)
		if unreadable(err) {
			return nil, fmt.Errorf("load signing key: %w", err)
		}
		if err != nil {
			return nil, err
		}
		e := w.Get()
		if other, dup := kids[e.kid]; dup {
			return nil, fmt.Errorf("signing keys %s and %s have the same kid %q: list each key once and give each a different kid", other, f.File, e.kid)
		}
		kids[e.kid] = f.File
		s.watch = append(s.watch, w)
		snap.active = append(snap.active, e)
	}
	s.cur.Store(snap)
	return s, nil
}

// keyParser turns the content of f's file into its key and kid.
func keyParser(f config.SigningKey) func(contents [][]byte) (entry, error) {
	return func(contents [][]byte) (entry, error) {
		key, err := ParsePrivateKey(contents[0])
		if err != nil {
			return entry{}, fmt.Errorf("load signing key %s: the file %w", f.File, err)
		}
		kid := f.Kid
		if kid == "" {
			kid = Thumbprint(&key.PublicKey)
		}
		return entry{kid: kid, key: key}, nil
	}
}

// unreadable tells a file that could not be read from one whose content
// is not a usable key: the messages differ.
func unreadable(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe)
}

// Signer is the key new tokens are signed with: the first configured one.
func (s *Set) Signer() (kid string, key *rsa.PrivateKey) {
	e := s.cur.Load().active[0]
	return e.kid, e.key
}

// Published lists every key verifiers may need: the active keys in config
// order, then retired keys still inside their grace period. Kids are unique.
func (s *Set) Published() []PublicKey {
	snap := s.cur.Load()
	now := s.opts.Now()
	activeExpiry := now.Truncate(time.Hour).Add(time.Hour + s.opts.Grace).Truncate(time.Second)
	out := make([]PublicKey, 0, len(snap.active)+len(snap.retired))
	seen := make(map[string]bool, cap(out))
	for _, e := range snap.active {
		if !seen[e.kid] {
			seen[e.kid] = true
			out = append(out, PublicKey{Kid: e.kid, Key: &e.key.PublicKey, Expiry: activeExpiry})
		}
	}
	for _, r := range snap.retired {
		if !seen[r.Kid] && now.Before(r.Expiry) {
			seen[r.Kid] = true
			out = append(out, r)
		}
	}
	return out
}

// Run re-reads the key files every interval until ctx ends. Files are
// compared by content, not modification time: a Kubernetes Secret update
// swaps the ..data symlink and leaves the file's own link untouched.
func (s *Set) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.Reload() // Reload logs and counts its own failures
		}
	}
}

// Reload re-reads every key file once. A file that changed to a valid key
// replaces its old key, which stays published until now + grace; a file that
// is unreadable or invalid keeps its old key, is logged and counted, and is
// reported in the returned error.
func (s *Set) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	now := s.opts.Now()
	next := &snapshot{active: append([]entry(nil), old.active...)}
	var errs []error
	changed := false
	for i, f := range s.files {
		fresh, err := s.watch[i].Check()
		switch {
		case unreadable(err):
			errs = append(errs, s.failed(f, fmt.Errorf("read signing key %s: %w", f.File, err)))
			continue
		case err != nil && fresh:
			errs = append(errs, s.failed(f, err))
			continue
		case err != nil:
			// Logged and counted when it was new; once is enough.
			errs = append(errs, fmt.Errorf("signing key %s is still invalid; the previous key stays in use", f.File))
			continue
		case !fresh:
			continue
		}
		e := s.watch[i].Get()
		prev := next.active[i]
		next.active[i] = e
		changed = true
		if e.kid == prev.kid {
			if !prev.key.PublicKey.Equal(&e.key.PublicKey) {
				s.opts.Logger.Warn("signing key replaced under the same configured kid: tokens signed with the old key no longer verify; leave kid out (thumbprint kids) or change it when rotating",
					slog.String("file", f.File), slog.String("kid", e.kid))
			}
		} else {
			next.retired = append(next.retired, PublicKey{Kid: prev.kid, Key: &prev.key.PublicKey, Expiry: now.Add(s.opts.Grace)})
		}
		s.opts.Logger.Info("signing key reloaded", slog.String("file", f.File), slog.String("kid", e.kid), slog.Bool("signs", i == 0))
		s.count("ok")
	}
	// Keep retired keys inside their grace period that are not active again.
	active := make(map[string]bool, len(next.active))
	for _, e := range next.active {
		active[e.kid] = true
	}
	for _, r := range old.retired {
		if now.Before(r.Expiry) && !active[r.Kid] {
			next.retired = append(next.retired, r)
		} else {
			changed = true
		}
	}
	if changed {
		s.cur.Store(next)
	}
	return errors.Join(errs...)
}

func (s *Set) failed(f config.SigningKey, err error) error {
	s.opts.Logger.Error("signing key reload failed; the previous key stays in use", slog.String("file", f.File), slog.String("error", err.Error()))
	s.count("error")
	return err
}

func (s *Set) count(result string) {
	if s.opts.Metrics != nil {
		s.opts.Metrics.KeyReloads.WithLabelValues(result).Inc()
	}
}
