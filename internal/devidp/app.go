package devidp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Defaults of the app registration (Options.AppClientID, AppClientSecret):
// a daemon that gets tokens with the client-credentials grant, as an Entra
// ID app registration that is a Dataverse application user does.
const (
	DefaultAppClientID     = "dataverse-app"
	DefaultAppClientSecret = "app-secret"
)

// appClient is the app registration: client credentials only, with JWT
// access tokens (as Entra ID issues them), which a resource server checks
// against the provider's JWKS.
type appClient struct {
	*storage.Client
}

// GrantTypes implements op.Client.
func (appClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeClientCredentials}
}

// AccessTokenType implements op.Client.
func (appClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }

// ClientCredentials implements op.ClientCredentialsStorage for the one app
// registration (the example storage's own service user is not offered).
func (s *claimsStorage) ClientCredentials(ctx context.Context, clientID, clientSecret string) (op.Client, error) {
	if s.app.Client == nil || clientID != s.app.GetID() || subtle.ConstantTimeCompare([]byte(clientSecret), []byte(s.appSecret)) != 1 {
		return nil, errors.New("wrong client id or secret")
	}
	return s.app, nil
}

// ClientCredentialsTokenRequest implements op.ClientCredentialsStorage:
// as at Entra ID, a scope "{resource}/.default" asks for a token whose
// audience is the resource (a Dataverse environment's URL).
func (s *claimsStorage) ClientCredentialsTokenRequest(ctx context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	if s.app.Client == nil || clientID != s.app.GetID() {
		return nil, errors.New("wrong client id")
	}
	var aud []string
	for _, sc := range scopes {
		if r, ok := strings.CutSuffix(sc, "/.default"); ok && r != "" {
			aud = append(aud, r)
		}
	}
	if len(aud) == 0 {
		return nil, oidc.ErrInvalidScope().WithDescription("ask for {resource}/.default")
	}
	now := time.Now()
	return &oidc.JWTTokenRequest{
		Subject:   clientID,
		Audience:  aud,
		Scopes:    slices.Clone(scopes),
		IssuedAt:  oidc.FromTime(now),
		ExpiresAt: oidc.FromTime(now.Add(exampleAccessTokenLifetime)),
	}, nil
}

// AppTokenRequests counts the client-credentials grants the token endpoint
// answered or refused, so tests can tell a cached app token from a new one.
func (p *Provider) AppTokenRequests() int {
	n := 0
	for _, r := range p.gate.requests() {
		if r.GrantType == string(oidc.GrantTypeClientCredentials) {
			n++
		}
	}
	return n
}

// TokenURL is the provider's token endpoint.
func (p *Provider) TokenURL() string { return p.Issuer + tokenPath }

// appAssertion checks a client assertion (RFC 7523) of the app
// registration as Entra ID does for certificate credentials: signed by the
// registered certificate's key (PS256 or RS256), its x5t#S256 the
// certificate's thumbprint, aud the token endpoint, iss and sub the app's
// client id, not expired.
type appAssertion struct {
	cert     *x509.Certificate
	tokenURL string
	clientID string
}

func (a *appAssertion) check(form url.Values) error {
	if form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return errors.New("client_assertion_type is not jwt-bearer")
	}
	if id := form.Get("client_id"); id != "" && id != a.clientID {
		return fmt.Errorf("client_id %q is not the app's", id)
	}
	sum := sha256.Sum256(a.cert.Raw)
	var c jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(form.Get("client_assertion"), &c, func(t *jwt.Token) (any, error) {
		if t.Header["x5t#S256"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return nil, errors.New("x5t#S256 is not the registered certificate's thumbprint")
		}
		return a.cert.PublicKey, nil
	}, jwt.WithValidMethods([]string{"PS256", "RS256"}), jwt.WithAudience(a.tokenURL), jwt.WithIssuer(a.clientID),
		jwt.WithSubject(a.clientID), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		return fmt.Errorf("client assertion: %w", err)
	}
	if c.ID == "" {
		return errors.New("client assertion without jti")
	}
	return nil
}
