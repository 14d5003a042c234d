package sessionsize

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
)

// entraLike is what a sign-in at Microsoft Entra ID with 60 group ids
// leaves, the way the IdP sends it: the ID token's claims (random ids,
// random opaque values, so that compression is not flattered), the raw
// ID token (about 4.5 KB: header, payload, a 256-byte RS256 signature)
// and a refresh token of Entra's length. seed makes it reproducible.
func entraLike(seed uint64, expiry time.Time) *session.Session {
	rng := rand.New(rand.NewPCG(seed, seed))
	bytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	guid := func() string {
		b := bytes(16)
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	}
	b64 := func(n int) string { return base64.RawURLEncoding.EncodeToString(bytes(n)) }
	tid := guid()
	groups := make([]any, 60)
	for i := range groups {
		groups[i] = guid()
	}
	sub := b64(32)
	claims := map[string]any{
		"aud": guid(), "iss": "https://login.microsoftonline.com/" + tid + "/v2.0",
		"iat": 1764950000, "nbf": 1764950000, "exp": 1764953900,
		"aio": b64(105), "email": "jane.doe@contoso.com", "xms_edov": true,
		"groups": groups, "name": "Jane Doe", "nonce": b64(32), "oid": guid(),
		"preferred_username": "jane.doe@contoso.com", "rh": b64(36), "roles": []any{"Chat.VIP"},
		"sid": guid(), "sub": sub, "tid": tid, "uti": b64(16), "ver": "2.0",
	}
	header, _ := json.Marshal(map[string]any{"typ": "JWT", "alg": "RS256", "kid": b64(20)})
	payload, _ := json.Marshal(claims)
	idToken := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + b64(256)
	kept := map[string]any{}
	for k, v := range claims {
		switch k {
		case "aud", "iat", "nbf", "exp", "nonce", "sid": // what the proxy always dropped
		default:
			kept[k] = v
		}
	}
	return &session.Session{
		Subject:      sub,
		Claims:       kept,
		IDToken:      idToken,
		RefreshToken: "1.AXoA" + b64(1000),
		RefreshAt:    expiry.Add(-11 * time.Hour),
		Expiry:       expiry,
		CreatedAt:    expiry.Add(-12 * time.Hour),
		SID:          claims["sid"].(string),
	}
}
