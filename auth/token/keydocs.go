package token

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
)

// omnichannelKey is one entry of Omnichannel's multi-key document.
type omnichannelKey struct {
	Kid       string `json:"kid"`
	PublicKey string `json:"publicKey"` // base64 of the whole PEM text
	Expiry    int64  `json:"expiry"`    // epoch seconds
}

// jwk is an RSA signing key in a JWKS (RFC 7517/7518).
type jwk struct {
	Kty string `json:"kty"`
	N   string `json:"n"`
	E   string `json:"e"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// OmnichannelKeysDocument renders keys in Omnichannel's multi-key format.
func OmnichannelKeysDocument(pub []keys.PublicKey) ([]byte, error) {
	out := make([]omnichannelKey, 0, len(pub))
	for _, k := range pub {
		out = append(out, omnichannelKey{
			Kid:       k.Kid,
			PublicKey: base64.StdEncoding.EncodeToString(keys.PublicKeyPEM(k.Key)),
			Expiry:    k.Expiry.Unix(),
		})
	}
	return json.Marshal(out)
}

// JWKSDocument renders keys as a JWKS with alg RS256 and use sig.
func JWKSDocument(pub []keys.PublicKey) ([]byte, error) {
	out := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(pub))}
	for _, k := range pub {
		out.Keys = append(out.Keys, jwk{
			Kty: "RSA",
			N:   base64.RawURLEncoding.EncodeToString(k.Key.N.Bytes()),
			E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.Key.E)).Bytes()),
			Kid: k.Kid,
			Alg: "RS256",
			Use: "sig",
		})
	}
	return json.Marshal(out)
}

// ParseKeyDocument reads any of the three published formats: PEM (one key,
// with an empty Kid, which matches any token kid as Omnichannel's single-key
// setting does), Omnichannel's JSON array, or a JWKS.
func ParseKeyDocument(data []byte) ([]keys.PublicKey, error) {
	data = bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(data, []byte("-----BEGIN")):
		pubs, err := keys.ParsePublicKeys(data)
		if err != nil {
			return nil, fmt.Errorf("PEM key document: %w", err)
		}
		out := make([]keys.PublicKey, 0, len(pubs))
		for _, p := range pubs {
			out = append(out, keys.PublicKey{Key: p})
		}
		return out, nil
	case bytes.HasPrefix(data, []byte("[")):
		return parseOmnichannelKeys(data)
	case bytes.HasPrefix(data, []byte("{")):
		return parseJWKS(data)
	}
	return nil, errors.New("not a key document: expected PEM (-----BEGIN PUBLIC KEY-----), Omnichannel's JSON array [{\"kid\",\"publicKey\",\"expiry\"}] or a JWKS {\"keys\": […]}")
}

func parseOmnichannelKeys(data []byte) ([]keys.PublicKey, error) {
	var doc []struct {
		Kid       string      `json:"kid"`
		PublicKey string      `json:"publicKey"`
		Expiry    json.Number `json:"expiry"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("Omnichannel key array: %w", err)
	}
	seen := map[string]bool{}
	out := make([]keys.PublicKey, 0, len(doc))
	for i, e := range doc {
		if e.Kid == "" {
			return nil, fmt.Errorf("Omnichannel key array: entry %d has no kid", i)
		}
		if seen[e.Kid] {
			return nil, fmt.Errorf("Omnichannel key array: kid %q appears twice; kids must be unique", e.Kid)
		}
		seen[e.Kid] = true
		pemText, err := base64.StdEncoding.DecodeString(e.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("Omnichannel key array: %q: publicKey is not base64 of the PEM text: %w", e.Kid, err)
		}
		pubs, err := keys.ParsePublicKeys(pemText)
		if err != nil {
			return nil, fmt.Errorf("Omnichannel key array: %q: %w", e.Kid, err)
		}
		var expiry time.Time
		if e.Expiry != "" {
			sec, err := e.Expiry.Int64()
			if err != nil {
				return nil, fmt.Errorf("Omnichannel key array: %q: expiry must be epoch seconds: %w", e.Kid, err)
			}
			expiry = time.Unix(sec, 0)
		}
		out = append(out, keys.PublicKey{Kid: e.Kid, Key: pubs[0], Expiry: expiry})
	}
	if len(out) == 0 {
		return nil, errors.New("Omnichannel key array is empty")
	}
	return out, nil
}

func parseJWKS(data []byte) ([]keys.PublicKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	var out []keys.PublicKey
	for i, k := range doc.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue // not usable for RS256 signatures
		}
		n, errN := base64.RawURLEncoding.DecodeString(k.N)
		e, errE := base64.RawURLEncoding.DecodeString(k.E)
		if errN != nil || errE != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("JWKS: key %d (%q) has malformed n or e", i, k.Kid)
		}
		exp := new(big.Int).SetBytes(e)
		out = append(out, keys.PublicKey{Kid: k.Kid, Key: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}})
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS holds no RSA signing key (kty RSA, use sig, alg RS256)")
	}
	return out, nil
}
