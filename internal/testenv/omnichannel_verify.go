package testenv

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// publishedKey is one key of the public key URL's document; Kid is empty
// for the single-key PEM format, which Omnichannel uses whatever the
// token's kid.
type publishedKey struct {
	Kid string
	Key *rsa.PublicKey
}

// verified is what the stand-in keeps of an accepted token.
type verified struct {
	Kid, Subject string
}

var errUnknownKid = errors.New("the token's kid is not in the key document")

// parseKeyDocument reads the two formats Omnichannel documents: the PEM of
// one RSA public key, or the JSON array [{"kid","publicKey","expiry"}] whose
// publicKey is the base64 of a whole PEM text. A JWKS is not one of them.
func parseKeyDocument(doc []byte) ([]publishedKey, error) {
	doc = bytes.TrimSpace(doc)
	if bytes.HasPrefix(doc, []byte("-----BEGIN")) {
		k, err := parsePublicKeyPEM(doc)
		if err != nil {
			return nil, err
		}
		return []publishedKey{{Key: k}}, nil
	}
	var entries []struct {
		Kid       string `json:"kid"`
		PublicKey string `json:"publicKey"`
		Expiry    int64  `json:"expiry"`
	}
	if err := json.Unmarshal(doc, &entries); err != nil {
		return nil, fmt.Errorf("neither a PEM key nor Omnichannel's key array: %w", err)
	}
	var out []publishedKey
	for _, e := range entries {
		if e.Kid == "" || e.Expiry == 0 {
			return nil, fmt.Errorf("key array entry without kid or expiry: %+v", e)
		}
		raw, err := base64.StdEncoding.DecodeString(e.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("key %s: publicKey is not base64: %w", e.Kid, err)
		}
		k, err := parsePublicKeyPEM(raw)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", e.Kid, err)
		}
		out = append(out, publishedKey{Kid: e.Kid, Key: k})
	}
	return out, nil
}

func parsePublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("want a PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok || rk.N.BitLen() < 2048 {
		return nil, errors.New("want an RSA public key of at least 2048 bits")
	}
	return rk, nil
}

// verifyUserToken applies Omnichannel's documented rules: RS256 with a
// published key (selected by kid in the key array), the claims sub, iss,
// iat and exp present, times valid, and lwicontexts, when present, a string
// of serialized JSON holding a flat object of primitive values.
func verifyUserToken(tok string, keys []publishedKey) (*verified, error) {
	var v verified
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range keys {
			if k.Kid == "" || k.Kid == kid {
				v.Kid = k.Kid
				return k.Key, nil
			}
		}
		return nil, errUnknownKid
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(time.Now))
	if err != nil {
		return nil, fmt.Errorf("token rejected: %w", err)
	}
	for _, c := range []string{"sub", "iss"} {
		if s, _ := claims[c].(string); s == "" {
			return nil, fmt.Errorf("token rejected: no %s claim", c)
		}
	}
	if _, ok := claims["iat"].(float64); !ok {
		return nil, errors.New("token rejected: no numeric iat claim")
	}
	if raw, ok := claims["lwicontexts"]; ok {
		if err := checkLWIContexts(raw); err != nil {
			return nil, fmt.Errorf("token rejected: lwicontexts: %w", err)
		}
	}
	v.Subject = claims["sub"].(string)
	return &v, nil
}

func checkLWIContexts(raw any) error {
	s, ok := raw.(string)
	if !ok {
		return fmt.Errorf("a %T, not a string of serialized JSON", raw)
	}
	var ctx map[string]any
	if err := json.Unmarshal([]byte(s), &ctx); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	for k, val := range ctx {
		switch val.(type) {
		case string, float64, bool, nil:
		default:
			return fmt.Errorf("%s is a %T, not a primitive", k, val)
		}
	}
	return nil
}
