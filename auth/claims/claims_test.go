package claims

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// idClaims is a JSON-decoded ID token, as the session hands it over.
func idClaims(t *testing.T) map[string]any {
	t.Helper()
	doc := `{
		"sub": "87b4d06c-abc2-e811-a9b0-000d3a10e09e",
		"email": "vip@example.com",
		"name": "Ada Lovelace",
		"email_verified": true,
		"cart": 10000,
		"cart_text": "10000.50",
		"score": "high",
		"flag_text": "TRUE",
		"groups": ["support", "gold"],
		"address": {"country": "DE", "geo": {"lat": 52.5}},
		"https://example.com/tier": "platinum",
		"nothing": null,
		"long": "` + strings.Repeat("x", 4001) + `",
		"long_ok": "` + strings.Repeat("é", 4000) + `",
		"big": 12345678901234567890
	}`
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var c map[string]any
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMapRules(t *testing.T) {
	cases := []struct {
		name    string
		rule    config.ContextRule
		want    any    // nil: the key is left out
		problem string // the reason expected when left out
	}{
		// Plain copies and types.
		{"string claim", config.ContextRule{Claim: "email"}, "vip@example.com", ""},
		{"number as string", config.ContextRule{Claim: "cart"}, "10000", ""},
		{"bool as string", config.ContextRule{Claim: "email_verified"}, "true", ""},
		{"number claim", config.ContextRule{Claim: "cart", Type: "number"}, json.Number("10000"), ""},
		{"numeric text to number", config.ContextRule{Claim: "cart_text", Type: "number"}, json.Number("10000.50"), ""},
		{"big number keeps digits", config.ContextRule{Claim: "big", Type: "number"}, json.Number("12345678901234567890"), ""},
		{"text not a number", config.ContextRule{Claim: "score", Type: "number"}, nil, ReasonNotNumber},
		{"bool not a number", config.ContextRule{Claim: "email_verified", Type: "number"}, nil, ReasonNotNumber},
		{"bool claim", config.ContextRule{Claim: "email_verified", Type: "boolean"}, true, ""},
		{"bool text", config.ContextRule{Claim: "flag_text", Type: "boolean"}, true, ""},
		{"text not a bool", config.ContextRule{Claim: "score", Type: "boolean"}, nil, ReasonNotBoolean},
		{"number not a bool", config.ContextRule{Claim: "cart", Type: "boolean"}, nil, ReasonNotBoolean},
		// Paths.
		{"dot path", config.ContextRule{Claim: "address.country"}, "DE", ""},
		{"deep dot path", config.ContextRule{Claim: "address.geo.lat", Type: "number"}, json.Number("52.5"), ""},
		{"name with dots", config.ContextRule{Claim: "https://example.com/tier"}, "platinum", ""},
		{"path through a value", config.ContextRule{Claim: "email.domain"}, nil, ReasonMissing},
		// Missing claims.
		{"missing", config.ContextRule{Claim: "phone"}, nil, ReasonMissing},
		{"null is missing", config.ContextRule{Claim: "nothing"}, nil, ReasonMissing},
		{"missing with default", config.ContextRule{Claim: "phone", Default: "unknown"}, "unknown", ""},
		{"missing with number default", config.ContextRule{Claim: "phone", Default: 0, Type: "number"}, json.Number("0"), ""},
		// Wrong shapes.
		{"object refused", config.ContextRule{Claim: "address"}, nil, ReasonObject},
		{"list refused", config.ContextRule{Claim: "groups"}, nil, ReasonList},
		{"list refused as number", config.ContextRule{Claim: "groups", Type: "number"}, nil, ReasonList},
		{"object refused as bool", config.ContextRule{Claim: "address", Type: "boolean"}, nil, ReasonObject},
		// Limits.
		{"over 4000 characters", config.ContextRule{Claim: "long"}, nil, ReasonTooLong},
		{"4000 characters of é", config.ContextRule{Claim: "long_ok"}, strings.Repeat("é", 4000), ""},
		// Constants.
		{"constant", config.ContextRule{Value: "EU"}, "EU", ""},
		{"constant number", config.ContextRule{Value: 7, Type: "number"}, json.Number("7"), ""},
		{"constant float as string", config.ContextRule{Value: 1.5}, "1.5", ""},
		{"constant bool text", config.ContextRule{Value: "false", Type: "boolean"}, false, ""},
		// equals.
		{"equals hit", config.ContextRule{Claim: "email", Equals: "vip@example.com", Type: "boolean"}, true, ""},
		{"equals miss", config.ContextRule{Claim: "name", Equals: "vip@example.com", Type: "boolean"}, false, ""},
		{"equals as string", config.ContextRule{Claim: "email", Equals: "vip@example.com"}, "true", ""},
		{"equals is case-sensitive", config.ContextRule{Claim: "email", Equals: "VIP@example.com", Type: "boolean"}, false, ""},
		{"equals number to text", config.ContextRule{Claim: "cart", Equals: "10000.0", Type: "boolean"}, true, ""},
		{"equals bool to yaml bool", config.ContextRule{Claim: "email_verified", Equals: true, Type: "boolean"}, true, ""},
		{"equals on missing is false", config.ContextRule{Claim: "phone", Equals: "x", Type: "boolean"}, false, ""},
		{"equals on list refused", config.ContextRule{Claim: "groups", Equals: "gold", Type: "boolean"}, nil, ReasonList},
		{"equals on object refused", config.ContextRule{Claim: "address", Equals: "DE", Type: "boolean"}, nil, ReasonObject},
		// contains.
		{"contains in list", config.ContextRule{Claim: "groups", Contains: "gold", Type: "boolean"}, true, ""},
		{"contains not in list", config.ContextRule{Claim: "groups", Contains: "old", Type: "boolean"}, false, ""},
		{"contains in text", config.ContextRule{Claim: "email", Contains: "@example.", Type: "boolean"}, true, ""},
		{"contains then else", config.ContextRule{Claim: "groups", Contains: "gold", Then: "Gold", Else: "Standard"}, "Gold", ""},
		{"contains else", config.ContextRule{Claim: "groups", Contains: "silver", Then: "Silver", Else: "Standard"}, "Standard", ""},
		{"then only, miss", config.ContextRule{Claim: "groups", Contains: "silver", Then: "Silver"}, nil, ""},
		{"then only, miss, default", config.ContextRule{Claim: "groups", Contains: "silver", Then: "Silver", Default: "None"}, "None", ""},
		{"then number", config.ContextRule{Claim: "groups", Contains: "gold", Then: 3, Else: 1, Type: "number"}, json.Number("3"), ""},
		// matches.
		{"matches", config.ContextRule{Claim: "email", Matches: `@example\.com$`, Type: "boolean"}, true, ""},
		{"matches miss", config.ContextRule{Claim: "name", Matches: `@example\.com$`, Type: "boolean"}, false, ""},
		{"matches list element", config.ContextRule{Claim: "groups", Matches: `^go`, Type: "boolean"}, true, ""},
		{"matches bad pattern", config.ContextRule{Claim: "email", Matches: `(`, Type: "boolean"}, nil, ReasonBadPattern},
		// one_of.
		{"one_of hit", config.ContextRule{Claim: "address.country", OneOf: []any{"FR", "DE"}, Type: "boolean"}, true, ""},
		{"one_of miss", config.ContextRule{Claim: "address.country", OneOf: []any{"FR"}, Type: "boolean"}, false, ""},
		{"one_of list claim", config.ContextRule{Claim: "groups", OneOf: []any{"admin", "support"}, Then: "staff", Else: "customer"}, "staff", ""},
		// map.
		{"map", config.ContextRule{Claim: "address.country", Map: map[string]any{"DE": "Germany"}}, "Germany", ""},
		{"map number key", config.ContextRule{Claim: "cart", Map: map[string]any{"10000": 2}, Type: "number"}, json.Number("2"), ""},
		{"map unmapped default", config.ContextRule{Claim: "address.country", Map: map[string]any{"FR": "France"}, Default: "Other"}, "Other", ""},
		{"map unmapped", config.ContextRule{Claim: "address.country", Map: map[string]any{"FR": "France"}}, nil, ReasonUnmapped},
		{"map missing claim default", config.ContextRule{Claim: "locale", Map: map[string]any{"de": "German"}, Default: "English"}, "English", ""},
		{"map list refused", config.ContextRule{Claim: "groups", Map: map[string]any{"gold": "Gold"}}, nil, ReasonList},
	}
	claims := idClaims(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rule.Matches != "" { // as config.Load provisions it
				tc.rule.Regexp, _ = regexp.Compile(tc.rule.Matches)
			}
			m := NewMapper(map[string]config.ContextRule{"k": tc.rule})
			values, problems := m.Map(claims)
			got, present := values["k"]
			if tc.want == nil {
				if present {
					t.Fatalf("key present with %#v, want it left out", got)
				}
			} else if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("value = %#v, want %#v", got, tc.want)
			}
			var wantProblems []Problem
			if tc.problem != "" {
				wantProblems = []Problem{{Key: "k", Reason: tc.problem}}
			}
			if !reflect.DeepEqual(problems, wantProblems) {
				t.Fatalf("problems = %v, want %v", problems, wantProblems)
			}
		})
	}
}

func TestMapUsesCompiledRegexpFromConfig(t *testing.T) {
	// config.Load compiles matches into Regexp; the mapper must use that one.
	m := NewMapper(map[string]config.ContextRule{"k": {Claim: "email", Matches: "ignored", Regexp: regexp.MustCompile(`^vip@`), Type: "boolean"}})
	values, _ := m.Map(idClaims(t))
	if values["k"] != true {
		t.Fatalf("k = %v, want true from the compiled Regexp", values["k"])
	}
}

func TestMapReferenceConfigIsDeterministic(t *testing.T) {
	m := NewMapper(map[string]config.ContextRule{
		"customer_email": {Claim: "email"},
		"customer_name":  {Claim: "name"},
		"msdyn_isvip":    {Claim: "email", Equals: "vip@example.com", Type: "boolean"},
		"region":         {Value: "EU"},
		"phone":          {Claim: "phone"},
		"address":        {Claim: "address"},
	})
	values, problems := m.Map(idClaims(t))
	s, err := Serialize(values)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"customer_email":"vip@example.com","customer_name":"Ada Lovelace","msdyn_isvip":true,"region":"EU"}`
	if s != want {
		t.Fatalf("lwicontexts = %s\nwant          %s", s, want)
	}
	wantProblems := []Problem{{"address", ReasonObject}, {"phone", ReasonMissing}}
	if !reflect.DeepEqual(problems, wantProblems) {
		t.Fatalf("problems = %v, want %v (sorted by key)", problems, wantProblems)
	}
}

func TestSerializeHostileValues(t *testing.T) {
	hostile := map[string]string{
		"quotes":      `"}, "msdyn_isvip": true, "x": "`,
		"backslashes": `C:\path\"\u0000`,
		"controls":    "a\x00b\x1fc\td\ne\rf",
		"script":      `</script><script>alert(1)</script>`,
		"ampersand":   `&amp; & <!--`,
		"invalid":     "ok\xff\xfe\xc3(end",
		"separators":  "line\u2028para\u2029end",
		"bidi":        "\u202eevil",
	}
	claims := map[string]any{}
	rules := map[string]config.ContextRule{}
	for k, v := range hostile {
		claims[k] = v
		rules[k] = config.ContextRule{Claim: k}
	}
	values, problems := NewMapper(rules).Map(claims)
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	s, err := Serialize(values)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<", ">", "&", "\u2028", "\u2029", "\x00", "\n", "\xff"} {
		if strings.Contains(s, bad) {
			t.Errorf("lwicontexts contains raw %q: %s", bad, s)
		}
	}
	if !utf8.ValidString(s) {
		t.Fatalf("lwicontexts is not valid UTF-8: %q", s)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(s), &back); err != nil {
		t.Fatalf("lwicontexts is not valid JSON: %v\n%s", err, s)
	}
	if len(back) != len(hostile) {
		t.Fatalf("round trip has %d keys, want %d: an injected key would change the count", len(back), len(hostile))
	}
	for k, v := range hostile {
		want := strings.ToValidUTF8(v, "\uFFFD")
		if k == "invalid" {
			want = "ok\uFFFD\uFFFD\uFFFD(end" // json replaces each invalid byte
		}
		if back[k] != want {
			t.Errorf("%s: round trip %q, want %q", k, back[k], want)
		}
	}
}

func TestLookup(t *testing.T) {
	c := map[string]any{
		"a.b": "exact",
		"a":   map[string]any{"b": "nested", "c.d": map[string]any{"e": "deep"}},
	}
	cases := []struct {
		path string
		want any
		ok   bool
	}{
		{"a.b", "exact", true},
		{"a.c.d.e", "deep", true},
		{"a.x", nil, false},
		{"", nil, false},
		{".", nil, false},
	}
	for _, tc := range cases {
		got, ok := Lookup(c, tc.path)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzMapNeverPanicsAndSerializes(f *testing.F) {
	f.Add(`{"email":"a@b","groups":["x"],"n":1}`)
	f.Add(`{"email":{"x":1}}`)
	m := NewMapper(map[string]config.ContextRule{
		"e": {Claim: "email"},
		"n": {Claim: "n", Type: "number"},
		"b": {Claim: "email", Type: "boolean"},
		"g": {Claim: "groups", Contains: "x", Type: "boolean"},
		"m": {Claim: "email", Map: map[string]any{"a@b": 1}, Type: "number"},
	})
	f.Fuzz(func(t *testing.T, doc string) {
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		var c map[string]any
		if dec.Decode(&c) != nil {
			return
		}
		values, _ := m.Map(c)
		s, err := Serialize(values)
		if err != nil {
			t.Fatalf("Serialize: %v", err)
		}
		var back map[string]any
		if err := json.Unmarshal([]byte(s), &back); err != nil {
			t.Fatalf("invalid lwicontexts %s: %v", s, err)
		}
		for k, v := range back {
			switch v.(type) {
			case string, float64, bool:
			default:
				t.Fatalf("%s is %T, not a primitive", k, v)
			}
		}
	})
}
