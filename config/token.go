package config

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Omnichannel's documented limits for the lwicontexts claim, in characters
// where they are lengths. The mapper, the verifier and validation use these.
const (
	MaxContextKeys     = 100
	MaxContextKeyName  = 100
	MaxContextValueLen = 4000
)

// Context value types a rule may declare.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
)

// Bounds of token.lifetime. Omnichannel documents none; Power Pages,
// Microsoft's own issuer of these tokens, accepts 1 to 60 minutes, and so
// does validation. The widget compares exp with the browser's clock
// without a margin, so below AdvisedMinTokenLifetime a browser clock a few
// minutes fast sees a fresh token as already expired: accepted, but doctor
// warns about it (and the README advises against it); above
// MaxTokenLifetime the verifier warns about a token from another issuer.
const (
	MinTokenLifetime        = time.Minute
	MaxTokenLifetime        = time.Hour
	AdvisedMinTokenLifetime = 5 * time.Minute
)

// jsonNumberRE is the JSON number grammar; numeric strings outside it (hex,
// "Inf", "1_000") would not survive as a JSON number in lwicontexts.
var jsonNumberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// provision compiles every rule's matches pattern, in a stable order.
func (t *Token) provision(p *problems) {
	t.Contact.provision(p)
	for _, section := range []struct {
		name  string
		rules map[string]ContextRule
	}{{"token.lwicontexts", t.LWIContexts}, {"token.context_keys", t.ContextKeys}} {
		for _, name := range slices.Sorted(maps.Keys(section.rules)) {
			r := section.rules[name]
			if r.Matches == "" {
				continue
			}
			re, err := regexp.Compile(r.Matches)
			if err != nil {
				p.add(section.name+"."+name+".matches", "%q is not a valid regular expression (Go RE2 syntax): %v", r.Matches, err)
				continue
			}
			r.Regexp = re
			section.rules[name] = r
		}
	}
}

// validate checks the token section once, at load time: everything the
// signer, the key set and the claims mapper rely on without checking again.
// Parsing the key files is left to auth/keys at start-up; here a missing or
// unreadable file is named.
func (t *Token) validate(p *problems) {
	if strings.TrimSpace(t.Issuer) == "" {
		p.add("token.issuer", "is required: the iss claim Omnichannel sees, usually the site's host, e.g. shop.example.com")
	}
	if t.Lifetime.D() < MinTokenLifetime || t.Lifetime.D() > MaxTokenLifetime {
		// In minutes, as Power Pages writes the range.
		p.add("token.lifetime", "%s is out of range: use %dm to %dm (default %s)", t.Lifetime.D(),
			MinTokenLifetime/time.Minute, MaxTokenLifetime/time.Minute, DurationText(Default().Token.Lifetime.D()))
	}
	if t.NotBeforeSkew < 0 || t.NotBeforeSkew.D() > 10*time.Minute {
		p.add("token.not_before_skew", "%s is out of range: use 0 to 10m (default %s); nbf is set this far before iat to allow for clock skew", t.NotBeforeSkew.D(), DurationText(Default().Token.NotBeforeSkew.D()))
	}
	if t.SubjectClaim == "" {
		p.add("token.subject_claim", "is required: the ID token claim that becomes sub (default %s)", Default().Token.SubjectClaim)
	}
	t.validateKeys(p)
	if t.RetiredKeyGrace < t.Lifetime {
		p.add("token.retired_key_grace", "%s is shorter than token.lifetime (%s): a retired key must stay published at least as long as the tokens it signed live (default %s)", t.RetiredKeyGrace.D(), t.Lifetime.D(), DurationText(Default().Token.RetiredKeyGrace.D()))
	}
	switch {
	case t.RateLimit < 0:
		p.add("token.rate_limit", "must not be negative: tokens per minute per session (default %d; 0 = no limit)", Default().Token.RateLimit)
	case t.RateLimit > 0 && t.RateBurst < 1:
		p.add("token.rate_burst", "%d: must be at least 1 while token.rate_limit is on (default %d: the widget in several tabs at once)", t.RateBurst, Default().Token.RateBurst)
	}
	if t.KeyCheckInterval.D() < time.Second {
		p.add("token.key_check_interval", "%s is too short: use at least 1s (default %s); key files are re-read this often", t.KeyCheckInterval.D(), DurationText(Default().Token.KeyCheckInterval.D()))
	}

	t.Contact.validate(p, t.LWIContexts)
	validateRules(p, "token.lwicontexts", t.LWIContexts, false)
	validateRules(p, "token.context_keys", t.ContextKeys, true)
	n, also := countKeys(t.LWIContexts, t.ContextKeys), ""
	if sc := t.Contact.SubjectContext; t.Contact.Enabled() && sc != "" {
		if _, taken := t.ContextKeys[sc]; !taken {
			n, also = n+1, ", and token.contact.subject_context"
		}
	}
	if n > MaxContextKeys {
		p.add("token.lwicontexts", "%d context keys (lwicontexts and context_keys together%s) are too many: Omnichannel accepts at most %d; remove some", n, also, MaxContextKeys)
	}

	if t.ContextURL != "" {
		if u, err := url.Parse(t.ContextURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("token.context_url", "%q must be an absolute http or https URL, e.g. https://crm.internal/lcw-context", t.ContextURL)
		}
		if len(t.ContextKeys) == 0 {
			p.add("token.context_keys", "is required with token.context_url: declare each key taken from its answer, e.g. msdyn_cartvalue: { type: number }")
		}
		if t.ContextTimeout <= 0 || t.ContextTimeout.D() > 5*time.Second {
			p.add("token.context_timeout", "%s is out of range: use more than 0 and at most 5s (default %s), well inside the widget's 10-second limit", t.ContextTimeout.D(), DurationText(Default().Token.ContextTimeout.D()))
		}
	} else if len(t.ContextKeys) > 0 {
		p.add("token.context_keys", "needs token.context_url: the keys are taken from that URL's answer; set it or remove context_keys")
	}
}

func (t *Token) validateKeys(p *problems) {
	if len(t.SigningKeys) == 0 {
		p.add("token.signing_keys", "needs at least one entry like - file: /run/secrets/lcw-signing-key.pem; create a key with lcw-auth-proxy keygen --out DIR")
		return
	}
	files := map[string]int{}
	kids := map[string]int{}
	for i, k := range t.SigningKeys {
		key := fmt.Sprintf("token.signing_keys[%d]", i)
		if k.File == "" {
			p.add(key+".file", "is required: the path of a PEM RSA private key; create one with lcw-auth-proxy keygen --out DIR")
		} else if j, dup := files[k.File]; dup {
			p.add(key+".file", "%s is already token.signing_keys[%d]; list each key file once", k.File, j)
		} else {
			files[k.File] = i
			if f, err := os.Open(k.File); err != nil {
				p.add(key+".file", "cannot read %s: %v; mount the key there or create one with lcw-auth-proxy keygen --out DIR", k.File, err)
			} else {
				f.Close()
			}
		}
		if k.Kid == "" {
			continue
		}
		if len(k.Kid) > 128 || strings.ContainsFunc(k.Kid, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			p.add(key+".kid", "%q must be 1 to 128 printable ASCII characters without spaces, or left out to use the key's RFC 7638 thumbprint", k.Kid)
		} else if j, dup := kids[k.Kid]; dup {
			p.add(key+".kid", "%q is already the kid of token.signing_keys[%d]; kids must be unique", k.Kid, j)
		} else {
			kids[k.Kid] = i
		}
	}
}

func countKeys(a, b map[string]ContextRule) int {
	n := len(a)
	for k := range b {
		if _, ok := a[k]; !ok {
			n++
		}
	}
	return n
}

// validateRules checks every rule of one rule map. For
// context_keys (fromAnswer) the source is the key of the context_url answer,
// so claim is an optional path into that answer and value is not allowed.
func validateRules(p *problems, section string, rules map[string]ContextRule, fromAnswer bool) {
	if len(rules) > MaxContextKeys {
		p.add(section, "has %d keys: Omnichannel accepts at most %d; remove some", len(rules), MaxContextKeys)
	}
	for _, name := range slices.Sorted(maps.Keys(rules)) { // one run reports in a stable order
		r := rules[name]
		key := section + "." + name
		if name == "" || utf8.RuneCountInString(name) > MaxContextKeyName {
			p.add(key, "context key names must be 1 to %d characters (Omnichannel's limit); rename it to the context variable's name", MaxContextKeyName)
		}
		r.validate(p, key, fromAnswer)
	}
}

func (r *ContextRule) validate(p *problems, key string, fromAnswer bool) {
	switch r.Type {
	case "", TypeString, TypeNumber, TypeBoolean:
	default:
		p.add(key+".type", "%q is not a type: use string (default, a Text context variable), number (a Number variable) or boolean", r.Type)
		return // the value checks below depend on the type
	}
	typ := r.Type
	if typ == "" {
		typ = TypeString
	}

	hasClaim, hasValue := r.Claim != "", r.Value != nil
	switch {
	case fromAnswer && hasValue:
		p.add(key+".value", "is not allowed in context_keys: constants belong in token.lwicontexts")
	case !fromAnswer && hasClaim && hasValue:
		p.add(key, "has both claim and value: use exactly one source (claim: copies an identity claim, value: a constant)")
	case !fromAnswer && !hasClaim && !hasValue:
		p.add(key, "needs a source: claim: NAME (an identity claim, dot paths like address.country) or value: CONSTANT")
	}
	if hasValue && !fromAnswer {
		if checkValue(p, key+".value", r.Value, typ) {
			if s := fmt.Sprint(r.Value); utf8.RuneCountInString(s) > MaxContextValueLen {
				p.add(key+".value", "is %d characters long: Omnichannel accepts at most %d", utf8.RuneCountInString(s), MaxContextValueLen)
			}
		}
	}

	conditions := r.conditions()
	if !hasClaim && !fromAnswer {
		for _, c := range conditions {
			p.add(key+"."+c, "only works with a claim: it tests the claim's value; add claim: NAME or remove %s", c)
		}
		if r.Map != nil {
			p.add(key+".map", "only works with a claim: it translates the claim's value; add claim: NAME or remove map")
		}
	}
	if len(conditions) > 1 {
		p.add(key, "has %s: use one condition per key", strings.Join(conditions, " and "))
	}
	if len(conditions) > 0 && r.Map != nil {
		p.add(key+".map", "cannot be combined with %s: a condition gives then/else, map translates a plain claim; split them into two keys", conditions[0])
	}
	if len(conditions) == 0 && (r.Then != nil || r.Else != nil) {
		p.add(key, "then/else need a condition (equals, contains, matches or one_of)")
	}
	if len(conditions) > 0 && r.Then == nil && r.Else == nil && typ == TypeNumber {
		p.add(key+".type", "is number, but a condition without then/else gives true or false: use type boolean or string, or give then and else numbers")
	}

	if r.Equals != nil {
		checkPrimitive(p, key+".equals", r.Equals)
	}
	if r.Contains != nil {
		checkPrimitive(p, key+".contains", r.Contains)
	}
	for i, v := range r.OneOf {
		checkPrimitive(p, fmt.Sprintf("%s.one_of[%d]", key, i), v)
	}
	if r.Then != nil {
		checkValue(p, key+".then", r.Then, typ)
	}
	if r.Else != nil {
		checkValue(p, key+".else", r.Else, typ)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Map)) {
		checkValue(p, key+".map."+k, r.Map[k], typ)
	}
	if r.Default != nil {
		checkValue(p, key+".default", r.Default, typ)
	}
}

// conditions lists the condition operators a rule uses, in a fixed order.
func (r *ContextRule) conditions() []string {
	var c []string
	if r.Equals != nil {
		c = append(c, "equals")
	}
	if r.Contains != nil {
		c = append(c, "contains")
	}
	if r.Matches != "" {
		c = append(c, "matches")
	}
	if r.OneOf != nil {
		c = append(c, "one_of")
	}
	return c
}

// checkPrimitive reports values that are not a string, number or boolean.
func checkPrimitive(p *problems, key string, v any) bool {
	switch v.(type) {
	case string, bool, int, int64, uint64, float64:
		return true
	case time.Time:
		p.add(key, "reads as a date; quote it (\"%v\") to use it as text", v)
	default:
		p.add(key, "must be a single string, number or boolean, not a %s: lwicontexts holds primitives only", describeYAML(v))
	}
	return false
}

// checkValue reports primitives that cannot be sent as the rule's type.
func checkValue(p *problems, key string, v any, typ string) bool {
	if !checkPrimitive(p, key, v) {
		return false
	}
	switch typ {
	case TypeNumber:
		switch n := v.(type) {
		case bool:
			p.add(key, "is %v but the type is number: write a number like 10000", n)
			return false
		case float64:
			if math.IsInf(n, 0) || math.IsNaN(n) {
				p.add(key, "is not a finite number: write a number like 10000")
				return false
			}
		case string:
			if !IsJSONNumber(n) {
				p.add(key, "%q is not a number but the type is number: write a number like 10000, or use type string", n)
				return false
			}
		}
	case TypeBoolean:
		switch b := v.(type) {
		case bool:
		case string:
			if b != "true" && b != "false" {
				p.add(key, "%q is not true or false but the type is boolean", b)
				return false
			}
		default:
			p.add(key, "is %v but the type is boolean: write true or false", v)
			return false
		}
	}
	return true
}

// IsJSONNumber reports whether s is a finite JSON number: the form numeric
// text must have to be sent as a Number context variable.
func IsJSONNumber(s string) bool {
	if !jsonNumberRE.MatchString(s) {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && !math.IsInf(f, 0)
}

func describeYAML(v any) string {
	switch v.(type) {
	case map[string]any, map[any]any:
		return "mapping"
	case []any:
		return "list"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
