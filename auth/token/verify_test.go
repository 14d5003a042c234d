package token

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
)

// forge signs arbitrary headers and claims, as a misconfigured or hostile
// issuer would.
func forge(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, c jwt.MapClaims) string {
	t.Helper()
	tk := jwt.NewWithClaims(method, c)
	for k, v := range header {
		if v == nil {
			delete(tk.Header, k)
		} else {
			tk.Header[k] = v
		}
	}
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func goodClaims() jwt.MapClaims {
	now := testNow.Unix()
	return jwt.MapClaims{
		"sub": "87b4d06c-abc2-e811-a9b0-000d3a10e09e", "iss": "shop.example.com",
		"iat": now, "nbf": now - 60, "exp": now + 600,
		"lwicontexts": `{"msdyn_cartvalue":10000,"msdyn_isvip":"false"}`,
	}
}

func TestVerifyExplainsEachFailure(t *testing.T) {
	k0, k1 := testKey(t, 0), testKey(t, 1)
	testKey(t, 0) // makes rsa1024
	published := []keys.PublicKey{
		{Kid: "k0", Key: &k0.PublicKey, Expiry: testNow.Add(24 * time.Hour)},
		{Kid: "k1", Key: &k1.PublicKey},
	}
	kid0 := map[string]any{"kid": "k0"}
	with := func(mutate func(jwt.MapClaims)) jwt.MapClaims {
		c := goodClaims()
		mutate(c)
		return c
	}
	manyKeys := func() string {
		var parts []string
		for i := range 101 {
			parts = append(parts, fmt.Sprintf(`"k%d":1`, i))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	now := testNow.Unix()

	cases := []struct {
		name  string
		token func() string
		pub   []keys.PublicKey
		want  []string // each must appear among the failures; none: OK
	}{
		{"valid", func() string { return forge(t, jwt.SigningMethodRS256, k0, kid0, goodClaims()) }, nil, nil},
		{"valid with the second key", func() string {
			return forge(t, jwt.SigningMethodRS256, k1, map[string]any{"kid": "k1"}, goodClaims())
		}, nil, nil},
		{"PEM key matches any kid", func() string { return forge(t, jwt.SigningMethodRS256, k0, kid0, goodClaims()) },
			[]keys.PublicKey{{Key: &k0.PublicKey}}, nil},
		{"not a JWT", func() string { return "abc.def" }, nil, []string{"not a JWT: it has 2 dot-separated parts"}},
		{"not base64", func() string { return "!!!.???.###" }, nil, []string{"cannot decode the token"}},
		{"HS256", func() string { return forge(t, jwt.SigningMethodHS256, []byte("secret"), kid0, goodClaims()) }, nil,
			[]string{`the header's alg is "HS256": Omnichannel accepts only RS256`}},
		{"alg none", func() string {
			return forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid0, goodClaims())
		}, nil, []string{`alg is "none"`}},
		{"RS512", func() string { return forge(t, jwt.SigningMethodRS512, k0, kid0, goodClaims()) }, nil, []string{`alg is "RS512"`}},
		{"unknown kid", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, map[string]any{"kid": "gone"}, goodClaims())
		}, nil, []string{`no published key has kid "gone" (published kids: k0, k1)`}},
		{"no kid, several keys", func() string { return forge(t, jwt.SigningMethodRS256, k0, nil, goodClaims()) }, nil,
			[]string{"the header has no kid, and the key document holds several keys"}},
		{"signed by another key", func() string { return forge(t, jwt.SigningMethodRS256, k1, kid0, goodClaims()) }, nil,
			[]string{"the signature does not verify with k0"}},
		{"payload altered", func() string {
			good := strings.Split(forge(t, jwt.SigningMethodRS256, k0, kid0, goodClaims()), ".")
			other := strings.Split(forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["sub"] = "someone-else" })), ".")
			return good[0] + "." + other[1] + "." + good[2]
		}, nil, []string{"the signature does not verify"}},
		{"1024-bit key", func() string {
			return forge(t, jwt.SigningMethodRS256, rsa1024, map[string]any{"kid": "small"}, goodClaims())
		},
			[]keys.PublicKey{{Kid: "small", Key: &rsa1024.PublicKey}}, []string{"key small has 1024 bits: Omnichannel needs an RSA key of at least 2048"}},
		{"key past its published expiry", func() string { return forge(t, jwt.SigningMethodRS256, k0, kid0, goodClaims()) },
			[]keys.PublicKey{{Kid: "k0", Key: &k0.PublicKey, Expiry: testNow.Add(-time.Second)}}, []string{"key k0 expired at"}},
		{"sub missing", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { delete(c, "sub") }))
		}, nil,
			[]string{"the sub claim is missing: Omnichannel requires it"}},
		{"sub a number", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["sub"] = 42 }))
		}, nil,
			[]string{"the sub claim must be a string, not a number"}},
		{"iss missing", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { delete(c, "iss") }))
		}, nil,
			[]string{"the iss claim is missing"}},
		{"iss empty", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["iss"] = "" }))
		}, nil,
			[]string{"the iss claim is empty"}},
		{"iat missing", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { delete(c, "iat") }))
		}, nil,
			[]string{"the iat claim is missing: Omnichannel requires it (seconds since 1970)"}},
		{"exp missing", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { delete(c, "exp") }))
		}, nil,
			[]string{"the exp claim is missing"}},
		{"exp a string", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["exp"] = fmt.Sprint(now + 600) }))
		}, nil, []string{"the exp claim must be a number of seconds since 1970, not a string"}},
		{"expired", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["exp"] = now }))
		}, nil,
			[]string{"the token expired at 2025-03-01T12:00:00Z (now is 2025-03-01T12:00:00Z)", "exp (2025-03-01T12:00:00Z) is not after iat"}},
		{"iat in the future", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["iat"], c["nbf"], c["exp"] = now+3600, now+3600, now+4000 }))
		}, nil, []string{"iat (2025-03-01T13:00:00Z) is in the future", "the token is not valid before 2025-03-01T13:00:00Z"}},
		{"nbf after iat (the docs' sample)", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["iat"], c["nbf"] = now-10, now-9 }))
		}, nil, []string{"nbf (2025-03-01T11:59:51Z) is after iat (2025-03-01T11:59:50Z)"}},
		{"lwicontexts an object", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["lwicontexts"] = map[string]any{"a": "b"} }))
		}, nil, []string{"lwicontexts is an object: it must be a string holding serialized JSON"}},
		{"lwicontexts not JSON", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["lwicontexts"] = "{a:1}" }))
		}, nil, []string{"lwicontexts is not a serialized JSON object"}},
		{"lwicontexts null", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["lwicontexts"] = "null" }))
		}, nil, []string{"lwicontexts is not a serialized JSON object: it is null"}},
		{"lwicontexts a list", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["lwicontexts"] = `["a"]` }))
		}, nil, []string{"lwicontexts is not a serialized JSON object"}},
		{"nested values", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["lwicontexts"] = `{"a":{"b":1},"c":[1],"d":null}` }))
		}, nil, []string{`lwicontexts key "a" holds an object`, `lwicontexts key "c" holds a list`, `lwicontexts key "d" holds null`}},
		{"too many keys", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["lwicontexts"] = manyKeys() }))
		}, nil, []string{"lwicontexts has 101 keys: Omnichannel accepts at most 100"}},
		{"long key name", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["lwicontexts"] = `{"` + strings.Repeat("n", 101) + `":1}` }))
		}, nil, []string{"is 101 characters: names must be 1 to 100"}},
		{"long value", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { c["lwicontexts"] = `{"v":"` + strings.Repeat("é", 4001) + `"}` }))
		}, nil, []string{`lwicontexts key "v" holds 4001 characters: values are limited to 4000`}},
		{"every failure at once", func() string {
			return forge(t, jwt.SigningMethodRS256, k0, kid0, with(func(c jwt.MapClaims) { delete(c, "sub"); c["exp"] = now - 1; c["lwicontexts"] = 1 }))
		}, nil, []string{"the sub claim is missing", "the token expired", "lwicontexts is a number"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub := tc.pub
			if pub == nil {
				pub = published
			}
			rep, err := Verify(tc.token(), pub, testNow)
			if len(tc.want) == 0 {
				if err != nil || !rep.OK() {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			var ve *VerifyError
			if !errors.As(err, &ve) || rep.OK() {
				t.Fatalf("Verify accepted the token (err %v)", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("failures do not explain %q:\n  %s", w, strings.Join(rep.Failures, "\n  "))
				}
			}
		})
	}
}

func TestVerifyWarnings(t *testing.T) {
	c := goodClaims()
	delete(c, "lwicontexts")
	c["exp"] = testNow.Add(2 * time.Hour).Unix()
	tok := forge(t, jwt.SigningMethodRS256, testKey(t, 0), map[string]any{"kid": nil, "typ": "at+jwt"}, c)
	rep, err := Verify(tok, []keys.PublicKey{{Key: &testKey(t, 0).PublicKey}}, testNow)
	if err != nil {
		t.Fatalf("warnings failed the token: %v", err)
	}
	for _, w := range []string{"no lwicontexts claim", "the token lives 2h", `typ is "at+jwt"`, "the header has no kid"} {
		if !strings.Contains(strings.Join(rep.Warnings, "\n"), w) {
			t.Errorf("no warning %q in %v", w, rep.Warnings)
		}
	}
}

// TestVerifyMintedTokenWithEachDocument closes the loop: what the handlers
// publish, ParseKeyDocument reads, and Verify accepts minted tokens with it.
func TestVerifyMintedTokenWithEachDocument(t *testing.T) {
	f := newFixture(t, nil, nil)
	srv := serve(t, f, signedIn(userClaims()))
	tok, _, err := f.minter.Mint(context.Background(), userClaims())
	if err != nil {
		t.Fatal(err)
	}
	for format, kr := range keyReaders {
		t.Run(format, func(t *testing.T) {
			_, body := get(t, srv.URL+kr.path, nil)
			pub, err := ParseKeyDocument(body)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(tok, pub, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if rep.LWIContexts["msdyn_isvip"] != true || rep.Claims["iss"] != "shop.example.com" {
				t.Fatalf("report = %+v", rep)
			}
		})
	}
}

func TestParseKeyDocument(t *testing.T) {
	pem0 := string(keys.PublicKeyPEM(&testKey(t, 0).PublicKey))
	b64 := base64.StdEncoding.EncodeToString([]byte(pem0))
	jwks, _ := JWKSDocument([]keys.PublicKey{{Kid: "j", Key: &testKey(t, 1).PublicKey}})
	cases := []struct {
		name    string
		doc     string
		wantKid []string
		wantErr string
	}{
		{"PEM", "\n" + pem0, []string{""}, ""},
		{"Omnichannel array", `[{"kid":"a","publicKey":"` + b64 + `","expiry":1608495423}]`, []string{"a"}, ""},
		{"JWKS", string(jwks), []string{"j"}, ""},
		{"JWKS skips other keys", `{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"},` + string(jwks)[9:], []string{"j"}, ""},
		{"garbage", "hello", nil, "not a key document"},
		{"array without kid", `[{"publicKey":"` + b64 + `"}]`, nil, "entry 0 has no kid"},
		{"array duplicate kid", `[{"kid":"a","publicKey":"` + b64 + `"},{"kid":"a","publicKey":"` + b64 + `"}]`, nil, `kid "a" appears twice`},
		{"array raw PEM not base64", `[{"kid":"a","publicKey":"-----BEGIN PUBLIC KEY-----"}]`, nil, "publicKey is not base64 of the PEM text"},
		{"empty array", `[]`, nil, "is empty"},
		{"JWKS without RSA", `{"keys":[{"kty":"oct","k":"AA"}]}`, nil, "holds no RSA signing key"},
		{"JWKS bad n", `{"keys":[{"kty":"RSA","n":"***","e":"AQAB"}]}`, nil, "malformed n or e"},
		{"PEM without key", "-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n", nil, "no PEM public key found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := ParseKeyDocument([]byte(tc.doc))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kids []string
			for _, p := range pub {
				kids = append(kids, p.Kid)
				if p.Key == nil || p.Key.N.BitLen() != 2048 {
					t.Fatal("key not read")
				}
			}
			if strings.Join(kids, ",") != strings.Join(tc.wantKid, ",") {
				t.Fatalf("kids %v, want %v", kids, tc.wantKid)
			}
		})
	}
	// The Omnichannel array's expiry comes through.
	pub, _ := ParseKeyDocument([]byte(`[{"kid":"a","publicKey":"` + b64 + `","expiry":1608495423}]`))
	if pub[0].Expiry.Unix() != 1608495423 {
		t.Fatalf("expiry %v", pub[0].Expiry)
	}
}

// FuzzVerify feeds Verify arbitrary tokens: it must never panic, and it must
// never accept a token that golang-jwt's own RS256 parser rejects.
func FuzzVerify(f *testing.F) {
	k := testKey(f, 0)
	good := forge(f, jwt.SigningMethodRS256, k, map[string]any{"kid": "k0"}, goodClaims())
	f.Add(good)
	f.Add("a.b.c")
	f.Add(strings.Replace(good, ".", "..", 1))
	pub := []keys.PublicKey{{Kid: "k0", Key: &k.PublicKey}}
	f.Fuzz(func(t *testing.T, tok string) {
		rep, err := Verify(tok, pub, testNow)
		if err != nil || !rep.OK() {
			return
		}
		_, perr := jwt.Parse(strings.TrimSpace(tok), func(*jwt.Token) (any, error) { return &k.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return testNow }))
		if perr != nil {
			t.Fatalf("Verify accepted a token golang-jwt rejects: %v", perr)
		}
	})
}
