package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validToken is a token section that passes validation; each case below
// breaks one thing.
func validToken(t *testing.T) Token {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, []byte("not parsed here"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := Default().Token
	tok.Issuer = "shop.example.com"
	tok.SigningKeys = []SigningKey{{File: keyFile}}
	tok.LWIContexts = map[string]ContextRule{
		"customer_email": {Claim: "email"},
		"msdyn_isvip":    {Claim: "email", Equals: "vip@example.com", Type: "boolean"},
		"region":         {Value: "EU"},
	}
	return tok
}

func TestTokenValidateAcceptsValidSections(t *testing.T) {
	cases := map[string]func(*Token){
		"reference":       func(*Token) {},
		"number constant": func(tk *Token) { tk.LWIContexts["cart"] = ContextRule{Value: 10000, Type: "number"} },
		"numeric string":  func(tk *Token) { tk.LWIContexts["cart"] = ContextRule{Value: "1.5e3", Type: "number"} },
		"boolean string":  func(tk *Token) { tk.LWIContexts["vip"] = ContextRule{Value: "false", Type: "boolean"} },
		"then else": func(tk *Token) {
			tk.LWIContexts["tier"] = ContextRule{Claim: "groups", Contains: "gold", Then: "Gold", Else: "Standard"}
		},
		"map with default": func(tk *Token) {
			tk.LWIContexts["lang"] = ContextRule{Claim: "locale", Map: map[string]any{"de-DE": "German"}, Default: "English"}
		},
		"one_of": func(tk *Token) {
			tk.LWIContexts["eu"] = ContextRule{Claim: "address.country", OneOf: []any{"DE", "FR"}, Type: "boolean"}
		},
		"matches": func(tk *Token) { tk.LWIContexts["staff"] = ContextRule{Claim: "email", Matches: `@example\.com$`} },
		"context url": func(tk *Token) {
			tk.ContextURL = "https://crm.internal/ctx"
			tk.ContextKeys = map[string]ContextRule{"cart": {Type: "number"}}
		},
		"100 keys together": func(tk *Token) {
			tk.LWIContexts = manyRules(60, "a")
			tk.ContextURL = "http://x"
			tk.ContextKeys = manyRules(40, "b")
		},
		"kid given":       func(tk *Token) { tk.SigningKeys[0].Kid = "2024-01" },
		"rate limit off":  func(tk *Token) { tk.RateLimit, tk.RateBurst = 0, 0 },
		"4000 char value": func(tk *Token) { tk.LWIContexts["long"] = ContextRule{Value: strings.Repeat("é", 4000)} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			tok := validToken(t)
			mutate(&tok)
			var p problems
			tok.validate(&p)
			if len(p) != 0 {
				t.Fatalf("unexpected problems:\n%s", strings.Join(p, "\n"))
			}
		})
	}
}

func TestTokenProvisionFillsRegexp(t *testing.T) {
	tok := validToken(t)
	tok.LWIContexts["staff"] = ContextRule{Claim: "email", Matches: `@example\.com$`}
	var p problems
	tok.provision(&p)
	re := tok.LWIContexts["staff"].Regexp
	if re == nil || !re.MatchString("a@example.com") {
		t.Fatalf("Regexp not filled: %v", re)
	}
}

func TestTokenValidateReportsEachProblem(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Token)
		want   string // the whole problem line must contain it
	}{
		{"issuer missing", func(tk *Token) { tk.Issuer = " " }, "token.issuer: is required: the iss claim"},
		{"lifetime short", func(tk *Token) { tk.Lifetime = Duration(30 * time.Second) }, "token.lifetime: 30s is out of range: use 1m to 60m"},
		{"lifetime long", func(tk *Token) { tk.Lifetime = Duration(2 * time.Hour); tk.RetiredKeyGrace = Duration(3 * time.Hour) }, "token.lifetime: 2h0m0s is out of range"},
		{"negative skew", func(tk *Token) { tk.NotBeforeSkew = Duration(-time.Second) }, "token.not_before_skew: -1s is out of range: use 0 to 10m"},
		{"subject claim", func(tk *Token) { tk.SubjectClaim = "" }, "token.subject_claim: is required"},
		{"no keys", func(tk *Token) { tk.SigningKeys = nil }, "token.signing_keys: needs at least one entry like - file: /run/secrets/lcw-signing-key.pem; create a key with lcw-auth-proxy keygen"},
		{"key file empty", func(tk *Token) { tk.SigningKeys[0].File = "" }, "token.signing_keys[0].file: is required: the path of a PEM RSA private key"},
		{"key file missing", func(tk *Token) { tk.SigningKeys[0].File = "/nonexistent/k.pem" }, "token.signing_keys[0].file: cannot read /nonexistent/k.pem: open /nonexistent/k.pem: no such file or directory; mount the key there or create one with lcw-auth-proxy keygen"},
		{"key file twice", func(tk *Token) { tk.SigningKeys = append(tk.SigningKeys, tk.SigningKeys[0]) }, "token.signing_keys[1].file: " + "%s is already token.signing_keys[0]; list each key file once"},
		{"kid duplicate", func(tk *Token) {
			other := filepath.Join(filepath.Dir(tk.SigningKeys[0].File), "other.pem")
			os.WriteFile(other, nil, 0o600)
			tk.SigningKeys[0].Kid = "k1"
			tk.SigningKeys = append(tk.SigningKeys, SigningKey{File: other, Kid: "k1"})
		}, `token.signing_keys[1].kid: "k1" is already the kid of token.signing_keys[0]; kids must be unique`},
		{"kid with space", func(tk *Token) { tk.SigningKeys[0].Kid = "a b" }, `token.signing_keys[0].kid: "a b" must be 1 to 128 printable ASCII characters`},
		{"grace shorter than lifetime", func(tk *Token) { tk.RetiredKeyGrace = Duration(time.Minute) }, "token.retired_key_grace: 1m0s is shorter than token.lifetime (10m0s)"},
		{"key check interval", func(tk *Token) { tk.KeyCheckInterval = 0 }, "token.key_check_interval: 0s is too short: use at least 1s"},
		{"negative rate limit", func(tk *Token) { tk.RateLimit = -1 }, "token.rate_limit: must not be negative"},
		{"rate limit without burst", func(tk *Token) { tk.RateBurst = 0 }, "token.rate_burst: 0: must be at least 1 while token.rate_limit is on"},
		{"too many keys", func(tk *Token) { tk.LWIContexts = manyRules(101, "k") }, "token.lwicontexts: has 101 keys: Omnichannel accepts at most 100"},
		{"too many keys together", func(tk *Token) {
			tk.LWIContexts = manyRules(60, "a")
			tk.ContextURL = "http://x"
			tk.ContextKeys = manyRules(41, "b")
		}, "token.lwicontexts: 101 context keys (lwicontexts and context_keys together) are too many"},
		{"long name", func(tk *Token) { tk.LWIContexts[strings.Repeat("n", 101)] = ContextRule{Value: "x"} }, "context key names must be 1 to 100 characters"},
		{"both sources", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Claim: "email", Value: "a"} }, "token.lwicontexts.x: has both claim and value: use exactly one source"},
		{"no source", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Type: "string"} }, "token.lwicontexts.x: needs a source: claim: NAME"},
		{"unknown type", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Claim: "a", Type: "text"} }, `token.lwicontexts.x.type: "text" is not a type: use string (default`},
		{"bad regexp", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Claim: "a", Matches: "("} }, `token.lwicontexts.x.matches: "(" is not a valid regular expression`},
		{"operator without claim", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Value: "a", Equals: "b"} }, "token.lwicontexts.x.equals: only works with a claim"},
		{"map without claim", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Value: "a", Map: map[string]any{"a": "b"}} }, "token.lwicontexts.x.map: only works with a claim"},
		{"two conditions", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Claim: "a", Equals: "b", Matches: "c"} }, "token.lwicontexts.x: has equals and matches: use one condition per key"},
		{"condition and map", func(tk *Token) {
			tk.LWIContexts["x"] = ContextRule{Claim: "a", Equals: "b", Map: map[string]any{"a": "b"}}
		}, "token.lwicontexts.x.map: cannot be combined with equals"},
		{"then without condition", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Claim: "a", Then: "b"} }, "token.lwicontexts.x: then/else need a condition"},
		{"number condition without then", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Claim: "a", Equals: "b", Type: "number"} }, "token.lwicontexts.x.type: is number, but a condition without then/else gives true or false"},
		{"equals a list", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Claim: "a", Equals: []any{"b"}} }, "token.lwicontexts.x.equals: must be a single string, number or boolean, not a list"},
		{"one_of a mapping", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Claim: "a", OneOf: []any{map[string]any{}}} }, "token.lwicontexts.x.one_of[0]: must be a single string, number or boolean, not a mapping"},
		{"value a date", func(tk *Token) {
			tk.LWIContexts["x"] = ContextRule{Value: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
		}, "token.lwicontexts.x.value: reads as a date; quote it"},
		{"then not a number", func(tk *Token) {
			tk.LWIContexts["x"] = ContextRule{Claim: "a", Equals: "b", Then: "lots", Else: 1, Type: "number"}
		}, `token.lwicontexts.x.then: "lots" is not a number but the type is number`},
		{"else bool for number", func(tk *Token) {
			tk.LWIContexts["x"] = ContextRule{Claim: "a", Equals: "b", Then: 2, Else: true, Type: "number"}
		}, "token.lwicontexts.x.else: is true but the type is number"},
		{"map value not boolean", func(tk *Token) {
			tk.LWIContexts["x"] = ContextRule{Claim: "a", Map: map[string]any{"gold": "yes"}, Type: "boolean"}
		}, `token.lwicontexts.x.map.gold: "yes" is not true or false but the type is boolean`},
		{"default a list", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Claim: "a", Default: []any{1}} }, "token.lwicontexts.x.default: must be a single string, number or boolean, not a list"},
		{"default number for boolean", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Claim: "a", Default: 1, Type: "boolean"} }, "token.lwicontexts.x.default: is 1 but the type is boolean: write true or false"},
		{"value hex for number", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Value: "0x10", Type: "number"} }, `token.lwicontexts.x.value: "0x10" is not a number`},
		{"value too long", func(tk *Token) { tk.LWIContexts["x"] = ContextRule{Value: strings.Repeat("a", 4001)} }, "token.lwicontexts.x.value: is 4001 characters long: Omnichannel accepts at most 4000"},
		{"context url relative", func(tk *Token) {
			tk.ContextURL = "/ctx"
			tk.ContextKeys = map[string]ContextRule{"a": {}}
		}, `token.context_url: "/ctx" must be an absolute http or https URL`},
		{"context url ftp", func(tk *Token) {
			tk.ContextURL = "ftp://crm/ctx"
			tk.ContextKeys = map[string]ContextRule{"a": {}}
		}, `token.context_url: "ftp://crm/ctx" must be an absolute http or https URL`},
		{"context url without keys", func(tk *Token) { tk.ContextURL = "https://crm/ctx" }, "token.context_keys: is required with token.context_url: declare each key"},
		{"context keys without url", func(tk *Token) { tk.ContextKeys = map[string]ContextRule{"a": {}} }, "token.context_keys: needs token.context_url"},
		{"context key constant", func(tk *Token) {
			tk.ContextURL = "https://crm/ctx"
			tk.ContextKeys = map[string]ContextRule{"a": {Value: "x"}}
		}, "token.context_keys.a.value: is not allowed in context_keys: constants belong in token.lwicontexts"},
		{"context key type", func(tk *Token) {
			tk.ContextURL = "https://crm/ctx"
			tk.ContextKeys = map[string]ContextRule{"a": {Type: "int"}}
		}, `token.context_keys.a.type: "int" is not a type`},
		{"context timeout", func(tk *Token) {
			tk.ContextURL = "https://crm/ctx"
			tk.ContextKeys = map[string]ContextRule{"a": {}}
			tk.ContextTimeout = Duration(30 * time.Second)
		}, "token.context_timeout: 30s is out of range: use more than 0 and at most 5s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := validToken(t)
			tc.mutate(&tok)
			want := tc.want
			if strings.Contains(want, "%s") { // cases without keys have no %s
				want = strings.Replace(want, "%s", tok.SigningKeys[0].File, 1)
			}
			var p problems
			tok.provision(&p)
			tok.validate(&p)
			for _, line := range p {
				if strings.Contains(line, want) {
					return
				}
			}
			t.Fatalf("no problem contains %q; got:\n%s", want, strings.Join(p, "\n"))
		})
	}
}

func manyRules(n int, prefix string) map[string]ContextRule {
	m := map[string]ContextRule{}
	for i := range n {
		m[prefix+strings.Repeat("x", i%50)+string(rune('a'+i/50))] = ContextRule{Claim: "c"}
	}
	return m
}

// TestTokenReferenceConfigLoads loads the token excerpt of the reference
// configuration through Load, as users write it.
func TestTokenReferenceConfigLoads(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := write("lcw-signing-key.pem", "x")
	secret := write("cookie", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	client := write("client", "s3cret")
	cfg := write("lcw.yaml", `
public_url: http://127.0.0.1:4180
upstream: { url: "http://127.0.0.1:8080" }
oidc: { issuer: "http://127.0.0.1:5556/dex", client_id: lcw, client_secret_file: `+client+` }
session: { secret_file: `+secret+` }
token:
  issuer: shop.example.com
  lifetime: 10m
  subject_claim: sub
  signing_keys:
    - file: `+key+`
  lwicontexts:
    customer_email: { claim: email }
    customer_name:  { claim: name }
    msdyn_isvip:    { claim: email, equals: vip@example.com, type: boolean }
    region:         { value: EU }
    staff:          { claim: email, matches: '@example\.com$' }
`)
	c, err := Load(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := c.Token
	if tok.Issuer != "shop.example.com" || tok.Lifetime.D() != 10*time.Minute || tok.SigningKeys[0].File != key {
		t.Fatalf("token section read wrong: %+v", tok)
	}
	if r := tok.LWIContexts["msdyn_isvip"]; r.Claim != "email" || r.Equals != "vip@example.com" || r.Type != "boolean" {
		t.Fatalf("msdyn_isvip = %+v", r)
	}
	if r := tok.LWIContexts["region"]; r.Value != "EU" {
		t.Fatalf("region = %+v", r)
	}
	if tok.LWIContexts["staff"].Regexp == nil {
		t.Fatal("matches was not compiled at load")
	}
}
