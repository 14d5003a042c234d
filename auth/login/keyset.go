package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// KeyRefetchInterval is the least time between two fetches of the IdP's
// JWKS for logout tokens. go-oidc's RemoteKeySet fetches the JWKS again
// whenever a signature does not verify, so every forged logout token (the
// endpoint is unauthenticated by nature) cost one request to the IdP. An
// IdP rotating its keys is still followed within this interval.
const KeyRefetchInterval = 10 * time.Second

// maxJWKS bounds the IdP's key set document.
const maxJWKS = 1 << 20

// signatureAlgs are the algorithms go-oidc verifies; the verifier narrows
// them to what the IdP announces before the key set is asked.
var signatureAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512,
	jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// errUnknownKey and errBadSignature are a key set's refusals; the IdP's
// key set being unreachable is another error.
var (
	errUnknownKey   = errors.New("signed by a key the IdP does not publish")
	errBadSignature = errors.New("signature does not verify with the IdP's key")
)

// keyOutcome is how the key set tells its caller why a token failed:
// go-oidc wraps the key set's error with %v, which loses it. A caller puts
// one in the context (withKeyOutcome) and reads it after Verify.
type keyOutcome struct {
	err error // errUnknownKey, errBadSignature, or why the keys could not be had
}

type keyOutcomeKey struct{}

func withKeyOutcome(ctx context.Context) (context.Context, *keyOutcome) {
	o := &keyOutcome{}
	return context.WithValue(ctx, keyOutcomeKey{}, o), o
}

func noteKeyOutcome(ctx context.Context, err error) error {
	if o, ok := ctx.Value(keyOutcomeKey{}).(*keyOutcome); ok {
		o.err = err
	}
	return err
}

// keySet is an oidc.KeySet over the IdP's jwks_uri that fetches the JWKS
// at most once per interval, whoever asks: a token under a kid the cached
// set does not have may trigger a fetch (a key rotation at the IdP), a
// token under a known kid whose signature fails never does, and between
// fetches unknown kids are refused from the cache. Concurrent callers share
// one fetch.
type keySet struct {
	url      string
	client   *http.Client
	interval time.Duration
	now      func() time.Time

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	lastErr   error         // of the last fetch
	fetchedAt time.Time     // start of the last fetch, whatever its result
	inflight  chan struct{} // closed when the running fetch ends; nil if none
}

func newKeySet(url string, client *http.Client, interval time.Duration, now func() time.Time) *keySet {
	if now == nil {
		now = time.Now
	}
	return &keySet{url: url, client: client, interval: interval, now: now}
}

// VerifySignature implements oidc.KeySet.
func (s *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, signatureAlgs)
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%d signatures, want one", len(jws.Signatures))
	}
	kid := jws.Signatures[0].Header.KeyID
	payload, tried := verifyWith(jws, s.cached(), kid)
	switch {
	case payload != nil:
		return payload, nil
	case tried && kid != "":
		// A known key that does not verify is a forgery, not a
		// rotation: the IdP never reuses a kid for another key.
		return nil, noteKeyOutcome(ctx, errBadSignature)
	}
	keys, fetched, err := s.refresh(ctx)
	if err != nil {
		return nil, noteKeyOutcome(ctx, fmt.Errorf("fetch the IdP's keys: %w", err))
	}
	if payload, tried = verifyWith(jws, keys, kid); payload != nil {
		return payload, nil
	}
	if tried && fetched {
		return nil, noteKeyOutcome(ctx, errBadSignature)
	}
	return nil, noteKeyOutcome(ctx, errUnknownKey)
}

// verifyWith tries the keys named kid (every key when kid is empty); tried
// tells whether there was any.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) (payload []byte, tried bool) {
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		tried = true
		if p, err := jws.Verify(&keys[i]); err == nil {
			return p, true
		}
	}
	return nil, tried
}

func (s *keySet) cached() []jose.JSONWebKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys
}

// refresh fetches the JWKS unless a fetch started less than interval ago
// (fetched false: the cached keys are returned, and the last fetch's error
// if it failed, so that an IdP that is down is reported as such); a caller
// arriving during a fetch waits for it.
func (s *keySet) refresh(ctx context.Context) (keys []jose.JSONWebKey, fetched bool, err error) {
	s.mu.Lock()
	if ch := s.inflight; ch != nil {
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.keys, true, s.lastErr
	}
	now := s.now()
	if !s.fetchedAt.IsZero() && now.Sub(s.fetchedAt) < s.interval {
		defer s.mu.Unlock()
		return s.keys, false, s.lastErr
	}
	s.fetchedAt = now
	ch := make(chan struct{})
	s.inflight = ch
	s.mu.Unlock()

	// Detached from the request: a caller that goes away must not leave a
	// failed fetch that blocks the next one for a whole interval. The
	// client's timeout bounds it.
	keys, err = s.fetch(context.WithoutCancel(ctx))

	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.keys = keys
	}
	s.lastErr = err
	s.inflight = nil
	close(ch)
	return s.keys, true, err
}

// fetch GETs and parses the JWKS, skipping keys go-jose does not support
// (as go-oidc does), so one exotic key does not hide the others.
func (s *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS request for %s: %w", s.url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return nil, fmt.Errorf("read JWKS from %s: %w", s.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	if len(body) > maxJWKS {
		return nil, fmt.Errorf("JWKS from %s is over %d bytes", s.url, maxJWKS)
	}
	return parseJWKS(body)
}

// parseJWKS reads a JSON Web Key Set, leaving out keys of algorithms or
// types that cannot verify our tokens.
func parseJWKS(body []byte) ([]jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var meta struct {
			Alg string `json:"alg"`
			Use string `json:"use"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("decode JWKS key: %w", err)
		}
		if (meta.Alg != "" && !supportedAlg(meta.Alg)) || (meta.Use != "" && meta.Use != "sig") {
			continue
		}
		var k jose.JSONWebKey
		if err := json.Unmarshal(raw, &k); err != nil {
			if errors.Is(err, jose.ErrUnsupportedKeyType) {
				continue
			}
			return nil, fmt.Errorf("decode JWKS key: %w", err)
		}
		if !k.IsPublic() {
			continue // a private key in a JWKS is the IdP's mistake; never verify with it
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func supportedAlg(alg string) bool {
	for _, a := range signatureAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// logoutVerifier checks logout tokens' signatures (with a keySet over the
// provider's jwks_uri, which forged tokens cannot make the proxy fetch more
// than once per KeyRefetchInterval), iss and aud; the rest is checked by
// verifyLogoutToken. Logout tokens need not carry exp (early drafts of the
// spec had none); verifyLogoutToken bounds their age by iat instead.
//
// It cannot fail: op was made from a discovery document that decoded, and
// a document without jwks_uri leaves a key set whose fetches fail, so
// logout tokens are answered 503 and the reason is logged.
func (rp *RP) logoutVerifier(discovery json.RawMessage, skipIssuer bool) *oidc.IDTokenVerifier {
	var doc struct {
		Issuer string   `json:"issuer"`
		JWKS   string   `json:"jwks_uri"`
		Algs   []string `json:"id_token_signing_alg_values_supported"`
	}
	_ = json.Unmarshal(discovery, &doc) // decoded once already by Discover
	// As Provider.Verifier does: the algorithms the IdP announces (and
	// go-oidc supports), RS256 when it announces none.
	var algs []string
	for _, a := range doc.Algs {
		if supportedAlg(a) {
			algs = append(algs, a)
		}
	}
	keys := newKeySet(doc.JWKS, rp.http, KeyRefetchInterval, rp.keyNow)
	return oidc.NewVerifier(doc.Issuer, keys, &oidc.Config{
		ClientID: rp.opt.OIDC.ClientID, SkipExpiryCheck: true, SupportedSigningAlgs: algs,
		// A {tenantid} issuer is checked by issuerRule.check instead.
		SkipIssuerCheck: skipIssuer,
	})
}
