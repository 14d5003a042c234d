package devidp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// exampleAccessTokenLifetime is what the example storage hard-codes for
// every access token; it rejects tokens at userinfo after this however long
// expires_in said, so Start cannot offer longer lifetimes.
const exampleAccessTokenLifetime = 5 * time.Minute

// claimsStorage is the example storage with three additions the example
// cannot express: per-user extra claims, a client whose logout and claim
// placement settings are ours, and a configurable access-token lifetime.
// Everything else, including the protocol, stays the library's.
type claimsStorage struct {
	*storage.Storage
	users          *userStore
	client         op.Client
	accessLifetime time.Duration // 0 keeps the example's

	mu     sync.Mutex
	tokens map[string]issuedToken // access token id -> what we promised

	rotation rotation // keys made by Provider.RotateKey

	app       appClient // the client-credentials app registration (app.go)
	appSecret string
}

// issuedToken remembers what was promised for an access token, because the
// example storage keeps its tokens private.
type issuedToken struct {
	expires time.Time
	scopes  []string
}

// newClaimsStorage builds the example storage for one web client.
func newClaimsStorage(users *userStore, opts Options) *claimsStorage {
	base := storage.WebClient(opts.ClientID, opts.ClientSecret, opts.RedirectURIs...)
	return &claimsStorage{
		Storage:        storage.NewStorageWithClients(users, map[string]*storage.Client{opts.ClientID: base}),
		users:          users,
		accessLifetime: opts.AccessTokenLifetime,
		client: &webClient{
			Client:          base,
			authMethod:      oidc.AuthMethod(opts.TokenAuthMethod),
			postLogout:      slices.Clone(opts.PostLogoutRedirectURIs),
			claimsInIDToken: !opts.ClaimsOnlyInUserinfo,
			idTokenLifetime: opts.IDTokenLifetime,
		},
		tokens:    make(map[string]issuedToken),
		app:       appClient{storage.WebClient(opts.AppClientID, opts.AppClientSecret)},
		appSecret: opts.AppClientSecret,
	}
}

// GetClientByClientID returns our wrapped client instead of the example's,
// so its PostLogoutRedirectURIs and claim placement apply.
func (s *claimsStorage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	if clientID != s.client.GetID() {
		return nil, fmt.Errorf("client %q not found", clientID)
	}
	return s.client, nil
}

// CreateAccessToken records the token's lifetime and scopes for userinfo.
func (s *claimsStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	id, exp, err := s.Storage.CreateAccessToken(ctx, req)
	if err != nil {
		return "", time.Time{}, err
	}
	return id, s.remember(id, exp, req.GetScopes()), nil
}

// CreateAccessAndRefreshTokens records the token's lifetime and scopes for
// userinfo; the example storage issues and rotates the refresh token.
func (s *claimsStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	id, refresh, exp, err := s.Storage.CreateAccessAndRefreshTokens(ctx, req, currentRefreshToken)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return id, refresh, s.remember(id, exp, req.GetScopes()), nil
}

// remember stores what was promised for an access token and returns the
// expiry the provider announces as expires_in.
func (s *claimsStorage) remember(id string, exp time.Time, scopes []string) time.Time {
	if s.accessLifetime > 0 {
		exp = time.Now().Add(s.accessLifetime)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[id] = issuedToken{expires: exp, scopes: slices.Clone(scopes)}
	return exp
}

// SetUserinfoFromRequest fills the ID token's claims: the example's standard
// ones, the sid of the sign-in, then the user's extra claims. (The library
// calls it for ID tokens only; userinfo answers go through
// SetUserinfoFromToken.)
func (s *claimsStorage) SetUserinfoFromRequest(ctx context.Context, userinfo *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, userinfo, req, scopes); err != nil {
		return err
	}
	userinfo.AppendClaims("sid", sessionID(req.GetSubject(), req.GetAuthTime()))
	s.appendExtraClaims(userinfo, req.GetSubject(), scopes)
	return nil
}

// sessionID names a sign-in at the provider, as real providers put in the
// ID token's sid for back-channel logout. The example storage has no
// sessions of its own; each completed login is one, identified by its user
// and the moment they authenticated, which the refresh tokens of that login
// keep, so refreshed ID tokens carry the same sid.
func sessionID(userID string, authTime time.Time) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d", userID, authTime.UnixNano()))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// SetUserinfoFromToken fills the userinfo response, enforcing our access
// token lifetime and adding the user's extra claims.
func (s *claimsStorage) SetUserinfoFromToken(ctx context.Context, userinfo *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, userinfo, tokenID, subject, origin); err != nil {
		return err
	}
	s.mu.Lock()
	tok, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("access token %s unknown", tokenID)
	}
	if time.Now().After(tok.expires) {
		return fmt.Errorf("access token %s expired at %s", tokenID, tok.expires.Format(time.RFC3339))
	}
	s.appendExtraClaims(userinfo, subject, tok.scopes)
	return nil
}

// SetIntrospectionFromToken reports our access token lifetime rather than
// the example's fixed one.
func (s *claimsStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	if err := s.Storage.SetIntrospectionFromToken(ctx, resp, tokenID, subject, clientID); err != nil {
		return err
	}
	s.mu.Lock()
	tok, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(tok.expires) {
		return fmt.Errorf("access token %s expired or unknown", tokenID)
	}
	resp.Expiration = oidc.FromTime(tok.expires)
	return nil
}

// appendExtraClaims releases the user's extra claims with the profile or
// email scope, so they follow the same ID-token-or-userinfo placement as the
// standard profile claims.
func (s *claimsStorage) appendExtraClaims(userinfo *oidc.UserInfo, userID string, scopes []string) {
	if !slices.Contains(scopes, oidc.ScopeProfile) && !slices.Contains(scopes, oidc.ScopeEmail) {
		return
	}
	for k, v := range s.users.claims[userID] {
		userinfo.AppendClaims(k, v)
	}
}

// webClient overrides the example web client where its settings are fixed:
// the example lists no post-logout redirect URIs (so end_session answers
// 400) and never asserts profile claims into the ID token.
type webClient struct {
	*storage.Client
	authMethod      oidc.AuthMethod
	postLogout      []string
	claimsInIDToken bool
	idTokenLifetime time.Duration // 0 keeps the example's
}

// PostLogoutRedirectURIs implements op.Client.
func (c *webClient) PostLogoutRedirectURIs() []string { return c.postLogout }

// AuthMethod implements op.Client: the registered token endpoint
// authentication (tokenGate enforces it).
func (c *webClient) AuthMethod() oidc.AuthMethod { return c.authMethod }

// IDTokenUserinfoClaimsAssertion implements op.Client.
func (c *webClient) IDTokenUserinfoClaimsAssertion() bool { return c.claimsInIDToken }

// IDTokenLifetime implements op.Client.
func (c *webClient) IDTokenLifetime() time.Duration {
	if c.idTokenLifetime > 0 {
		return c.idTokenLifetime
	}
	return c.Client.IDTokenLifetime()
}
