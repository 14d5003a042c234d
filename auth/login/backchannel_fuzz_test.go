package login

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// FuzzLogoutToken feeds verifyLogoutToken raw tokens (the checks before the
// signature: parsing, algorithm, key lookup) and claim sets signed with the
// IdP's key (the checks after it). A token is either refused with a
// *logoutRefusal or accepted with a jti and a sid or sub, within the iat
// window and without a nonce; nothing panics, and the key set never
// fetches (its cache is fresh for the whole run).
func FuzzLogoutToken(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	const issuer, client, kid = "https://idp.example.com", "lcw", "k1"
	now := time.Unix(1_800_000_000, 0)
	ks := newKeySet("http://127.0.0.1:1/keys", nil, time.Hour, func() time.Time { return now })
	ks.keys = []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}}
	ks.fetchedAt = now
	p := &provider{logout: oidc.NewVerifier(issuer, ks, &oidc.Config{ClientID: client, SkipExpiryCheck: true, SupportedSigningAlgs: []string{"RS256"}})}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		f.Fatal(err)
	}
	valid, _ := json.Marshal(map[string]any{"iss": issuer, "aud": client, "sub": "u1", "sid": "s1", "iat": now.Unix(), "jti": "j1",
		"events": map[string]any{backchannelLogoutEvent: map[string]any{}}})
	f.Add(valid, "")
	f.Add([]byte(`{"iss":"https://idp.example.com","aud":["lcw"],"iat":1800000000,"jti":"j","sid":"s","events":{"`+backchannelLogoutEvent+`":{}},"nonce":"n"}`), "")
	f.Add([]byte(`{}`), "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.")
	f.Add([]byte(`null`), "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsyIn0.e30.AAAA")
	f.Add([]byte(`[]`), "a.b.c.d.e")

	f.Fuzz(func(t *testing.T, claims []byte, raw string) {
		check := func(tok logoutToken, err error) {
			var refused *logoutRefusal
			switch {
			case errors.As(err, &refused):
			case err != nil:
				t.Fatalf("not a refusal: %v", err)
			case tok.jti == "" || (tok.sid == "" && tok.sub == ""):
				t.Fatalf("accepted without jti, or without sid and sub: %+v", tok)
			}
		}
		if raw != "" {
			tok, err := verifyLogoutToken(context.Background(), p, raw, now, time.Minute)
			if err == nil {
				t.Fatalf("an unsigned input was accepted: %q", raw)
			}
			check(tok, err)
		}
		jws, err := signer.Sign(claims)
		if err != nil {
			return
		}
		signed, err := jws.CompactSerialize()
		if err != nil {
			return
		}
		tok, err := verifyLogoutToken(context.Background(), p, signed, now, time.Minute)
		check(tok, err)
		if err == nil {
			var c map[string]json.RawMessage
			if json.Unmarshal(claims, &c) != nil || c["nonce"] != nil || c["iat"] == nil {
				t.Fatalf("accepted claims %s", claims)
			}
		}
	})
}
