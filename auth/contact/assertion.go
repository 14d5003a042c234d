package contact

import (
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // x5t is SHA-1 by definition (RFC 7515 4.1.7); x5t#S256 is sent too
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// assertionType is RFC 7523's client assertion type.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime bounds a client assertion: it is used once, at once.
const assertionLifetime = 5 * time.Minute

// assertionSource gets app tokens with a certificate instead of a secret
// (Entra ID's certificate credentials, RFC 7523): each token request
// carries a fresh client assertion, a JWT signed with the certificate's
// key, with the certificate's thumbprints in its header. Wrapped in
// oauth2.ReuseTokenSource, a request is made only when the token expires.
type assertionSource struct {
	ctx      context.Context // carries the HTTP client
	cfg      clientcredentials.Config
	cert     *tls.Certificate
	clientID string
}

func (a *assertionSource) Token() (*oauth2.Token, error) {
	signed, err := clientAssertion(a.cert, a.clientID, a.cfg.TokenURL, time.Now())
	if err != nil {
		return nil, err
	}
	cfg := a.cfg
	cfg.EndpointParams = url.Values{"client_assertion_type": {assertionType}, "client_assertion": {signed}}
	return cfg.Token(a.ctx)
}

// clientAssertion signs the assertion Entra ID documents: PS256, x5t#S256
// (and x5t) of the certificate; aud the token endpoint, iss and sub the
// client id, a random jti, nbf, iat and a short exp.
func clientAssertion(cert *tls.Certificate, clientID, tokenURL string, now time.Time) (string, error) {
	der := cert.Certificate[0]
	s256 := sha256.Sum256(der)
	s1 := sha1.Sum(der) //nolint:gosec // a thumbprint, not a signature
	jti := make([]byte, 16)
	_, _ = rand.Read(jti) // crypto/rand never fails on supported platforms
	t := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.RegisteredClaims{
		Audience:  jwt.ClaimStrings{tokenURL},
		Issuer:    clientID,
		Subject:   clientID,
		ID:        hex.EncodeToString(jti),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
	})
	t.Header["x5t#S256"] = base64.RawURLEncoding.EncodeToString(s256[:])
	t.Header["x5t"] = base64.RawURLEncoding.EncodeToString(s1[:])
	signed, err := t.SignedString(cert.PrivateKey)
	if err != nil {
		return "", fmt.Errorf("contact: sign client assertion: %w", err)
	}
	return signed, nil
}
