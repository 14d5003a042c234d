package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// keysPath is where the provider serves its JWKS (zitadel's default
// jwks_uri, relative to the issuer).
const keysPath = "/keys"

// rsaKey is a signing key of the provider's own (after a rotation): the
// example storage's key type is private to it.
type rsaKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *rsaKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *rsaKey) Key() any                                    { return k.key }
func (k *rsaKey) ID() string                                  { return k.id }

// rsaPublicKey is an rsaKey as the JWKS publishes it.
type rsaPublicKey struct{ k *rsaKey }

func (p rsaPublicKey) ID() string                         { return p.k.id }
func (p rsaPublicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p rsaPublicKey) Use() string                        { return "sig" }
func (p rsaPublicKey) Key() any                           { return &p.k.key.PublicKey }

// rotation holds the keys made by RotateKey: the last one signs, and every
// key (the example storage's first one included) stays published, as an
// IdP keeps old keys in its JWKS while tokens they signed are still about.
type rotation struct {
	mu   sync.Mutex
	keys []*rsaKey
}

func (r *rotation) current() *rsaKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) == 0 {
		return nil
	}
	return r.keys[len(r.keys)-1]
}

func (r *rotation) published() []op.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]op.Key, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, rsaPublicKey{k})
	}
	return out
}

// SigningKey implements op.Storage: the newest key of a rotation, else
// the example storage's.
func (s *claimsStorage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	if k := s.rotation.current(); k != nil {
		return k, nil
	}
	return s.Storage.SigningKey(ctx)
}

// KeySet implements op.Storage: the example storage's key and every key a
// rotation made.
func (s *claimsStorage) KeySet(ctx context.Context) ([]op.Key, error) {
	base, err := s.Storage.KeySet(ctx)
	if err != nil {
		return nil, err
	}
	return append(base, s.rotation.published()...), nil
}

// RotateKey makes a new signing key with a new kid, as an IdP rotating its
// keys does: tokens are signed with it from now on, and the JWKS lists it
// next to the old ones. It returns the new kid.
func (p *Provider) RotateKey() (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("development OpenID provider: new signing key: %w", err)
	}
	k := &rsaKey{id: rand.Text(), key: key}
	r := &p.storage.rotation
	r.mu.Lock()
	r.keys = append(r.keys, k)
	r.mu.Unlock()
	return k.id, nil
}

// JWKSRequests is how many times the provider's JWKS was requested, so
// tests can see what a relying party costs the IdP.
func (p *Provider) JWKSRequests() int64 { return p.jwksRequests.Load() }

// countKeyRequests counts requests for the JWKS on their way to next.
func (p *Provider) countKeyRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == keysPath {
			p.jwksRequests.Add(1)
		}
		next.ServeHTTP(w, r)
	})
}
