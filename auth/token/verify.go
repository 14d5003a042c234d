package token

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

const (
	// futureIatSlack tolerates clock differences before a token issued "in
	// the future" is reported.
	futureIatSlack = 5 * time.Minute
)

// Report is what Verify found out about a token.
type Report struct {
	Header map[string]any
	Claims map[string]any
	// Kid is the key that verified the signature ("" for a PEM key).
	Kid string
	// LWIContexts is the decoded lwicontexts object, when it decodes.
	LWIContexts map[string]any
	// Failures are reasons Omnichannel would reject the token; Warnings are
	// worth knowing but not fatal.
	Failures []string
	Warnings []string
}

// OK reports whether the token passed every check.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

// VerifyError lists every reason a token fails.
type VerifyError struct{ Failures []string }

func (e *VerifyError) Error() string {
	return "token rejected: " + strings.Join(e.Failures, "; ")
}

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func (r *Report) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

func (r *Report) result() (*Report, error) {
	if r.OK() {
		return r, nil
	}
	return r, &VerifyError{Failures: r.Failures}
}

// Verify checks token as Omnichannel does and explains every failure in
// words: RS256 only, the header's kid selects the key (a key with an empty
// Kid, from a PEM document, matches any kid), RSA of at least 2048 bits, the
// required claims sub, iss, iat and exp, nbf not after iat, exp in the
// future at now, and lwicontexts a string holding a flat JSON object of
// primitives within Omnichannel's limits. The report is returned even when
// the error is not nil.
func Verify(token string, pub []keys.PublicKey, now time.Time) (*Report, error) {
	r := &Report{}
	token = strings.TrimSpace(token)
	if n := strings.Count(token, ".") + 1; n != 3 {
		r.fail("not a JWT: it has %d dot-separated parts, a signed JWT has 3 (header.payload.signature)", n)
		return r.result()
	}
	mc := jwt.MapClaims{}
	parsed, _, err := jwt.NewParser().ParseUnverified(token, mc)
	if err != nil {
		r.fail("cannot decode the token: %v", err)
		return r.result()
	}
	r.Header, r.Claims = parsed.Header, mc

	r.checkSignature(token, pub, now)
	r.checkClaims(now)
	r.checkContexts()
	return r.result()
}

func (r *Report) checkSignature(token string, pub []keys.PublicKey, now time.Time) {
	alg, _ := r.Header["alg"].(string)
	if alg != "RS256" {
		r.fail("the header's alg is %q: Omnichannel accepts only RS256", alg)
		return
	}
	if typ, ok := r.Header["typ"].(string); ok && !strings.EqualFold(typ, "JWT") {
		r.warn("the header's typ is %q, expected JWT", typ)
	}
	kid, hasKid := r.Header["kid"].(string)
	var candidates []keys.PublicKey
	for _, k := range pub {
		if k.Kid == "" || (hasKid && k.Kid == kid) {
			candidates = append(candidates, k)
		}
	}
	if !hasKid && len(candidates) == 0 && len(pub) == 1 {
		candidates = pub
	}
	if len(candidates) == 0 {
		if hasKid {
			r.fail("no published key has kid %q (published kids: %s): the token was signed with a key that is not (or no longer) published", kid, kidList(pub))
		} else {
			r.fail("the header has no kid, and the key document holds several keys (%s): the kid selects one", kidList(pub))
		}
		return
	}
	if !hasKid {
		r.warn("the header has no kid: only a single-key (PEM) public key URL can verify it")
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	var tried []string
	for _, k := range candidates {
		name := k.Kid
		if name == "" {
			name = "the PEM key"
		}
		if bits := k.Key.N.BitLen(); bits < keys.MinBits {
			r.fail("key %s has %d bits: Omnichannel needs an RSA key of at least %d", name, bits, keys.MinBits)
			continue
		}
		if _, err := parser.Parse(token, func(*jwt.Token) (any, error) { return k.Key, nil }); err != nil {
			tried = append(tried, name)
			continue
		}
		if !k.Expiry.IsZero() && !now.Before(k.Expiry) {
			r.fail("key %s expired at %s according to the key document: Omnichannel no longer uses it", name, stamp(k.Expiry.Unix()))
		}
		r.Kid = k.Kid
		return
	}
	if len(tried) > 0 {
		r.fail("the signature does not verify with %s: the token was altered or signed with a different key", strings.Join(tried, ", "))
	}
}

func kidList(pub []keys.PublicKey) string {
	var kids []string
	for _, k := range pub {
		if k.Kid == "" {
			kids = append(kids, "(no kid)")
		} else {
			kids = append(kids, k.Kid)
		}
	}
	if len(kids) == 0 {
		return "none"
	}
	return strings.Join(kids, ", ")
}

func (r *Report) checkClaims(now time.Time) {
	for _, name := range []string{"sub", "iss"} {
		switch v := r.Claims[name].(type) {
		case nil:
			r.fail("the %s claim is missing: Omnichannel requires it", name)
		case string:
			if v == "" {
				r.fail("the %s claim is empty", name)
			}
		default:
			r.fail("the %s claim must be a string, not %s", name, jsonKind(v))
		}
	}
	iat, hasIat := r.date("iat", true)
	exp, hasExp := r.date("exp", true)
	nbf, hasNbf := r.date("nbf", false)
	unix := now.Unix()
	if hasExp && exp <= unix {
		r.fail("the token expired at %s (now is %s): the widget reports \"New authentication token is already expired\"", stamp(exp), stamp(unix))
	}
	if hasIat && hasExp && exp <= iat {
		r.fail("exp (%s) is not after iat (%s)", stamp(exp), stamp(iat))
	}
	if hasIat && iat > unix+int64(futureIatSlack/time.Second) {
		r.fail("iat (%s) is in the future (now is %s): check the signer's clock", stamp(iat), stamp(unix))
	}
	if hasNbf {
		if hasIat && nbf > iat {
			r.fail("nbf (%s) is after iat (%s): a strict verifier rejects a token that is not valid when issued; set nbf at or before iat", stamp(nbf), stamp(iat))
		}
		if nbf > unix {
			r.fail("the token is not valid before %s (now is %s)", stamp(nbf), stamp(unix))
		}
	}
	if hasIat && hasExp && exp-iat > int64(config.MaxTokenLifetime/time.Second) {
		r.warn("the token lives %s: keep chat tokens short (Power Pages allows at most %d minutes)", time.Duration(exp-iat)*time.Second, config.MaxTokenLifetime/time.Minute)
	}
}

// date reads a NumericDate claim in whole seconds.
func (r *Report) date(name string, required bool) (int64, bool) {
	v, ok := r.Claims[name]
	if !ok {
		if required {
			r.fail("the %s claim is missing: Omnichannel requires it (seconds since 1970)", name)
		}
		return 0, false
	}
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		r.fail("the %s claim must be a number of seconds since 1970, not %s", name, jsonKind(v))
		return 0, false
	}
	return int64(f), true
}

func (r *Report) checkContexts() {
	v, ok := r.Claims["lwicontexts"]
	if !ok {
		r.warn("there is no lwicontexts claim: the agent sees no context values")
		return
	}
	s, ok := v.(string)
	if !ok {
		r.fail("lwicontexts is %s: it must be a string holding serialized JSON, e.g. \"{\\\"msdyn_isvip\\\":\\\"false\\\"}\"", jsonKind(v))
		return
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(s), &obj); err != nil || obj == nil {
		r.fail("lwicontexts is not a serialized JSON object: %s", describeJSONError(err))
		return
	}
	r.LWIContexts = obj
	if len(obj) > config.MaxContextKeys {
		r.fail("lwicontexts has %d keys: Omnichannel accepts at most %d", len(obj), config.MaxContextKeys)
	}
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if n := utf8.RuneCountInString(k); n > config.MaxContextKeyName || n == 0 {
			r.fail("lwicontexts key %.40q… is %d characters: names must be 1 to %d", k, n, config.MaxContextKeyName)
		}
		switch val := obj[k].(type) {
		case string:
			if n := utf8.RuneCountInString(val); n > config.MaxContextValueLen {
				r.fail("lwicontexts key %q holds %d characters: values are limited to %d", k, n, config.MaxContextValueLen)
			}
		case float64, bool:
		default:
			r.fail("lwicontexts key %q holds %s: only strings, numbers and booleans are allowed", k, jsonKind(val))
		}
	}
}

func describeJSONError(err error) string {
	if err == nil {
		return "it is null"
	}
	return err.Error()
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func stamp(sec int64) string {
	return time.Unix(sec, 0).UTC().Format(time.RFC3339)
}
