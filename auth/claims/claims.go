// Package claims turns verified identity claims into the lwicontexts values
// of the Omnichannel chat token, following the rules of the token config.
//
// Only primitives ever come out: a claim that is an object or a list where a
// single value is needed, a value of the wrong type or one over Omnichannel's
// 4,000-character limit leaves that one key out and is reported as a
// Problem; it never fails the whole mapping.
//
// Decisions worth knowing:
//   - A missing claim gives the rule's default when it has one; otherwise the
//     key is left out and reported with ReasonMissing, so operators can see
//     why a context variable stays empty (reasons are fixed phrases, safe as
//     metric labels, and never contain claim values).
//   - Conditions (equals, contains, matches, one_of) treat a missing claim as
//     false: "is this user a VIP" is no when the claim is absent.
//   - Claim paths look up the exact name first (claims such as
//     "https://example.com/roles" contain dots), then walk nested objects
//     along the dots ("address.country").
package claims

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// Reasons a key is left out. They are fixed phrases so that logs and metric
// labels stay bounded and never carry a user's claim values.
const (
	ReasonMissing    = "claim missing"
	ReasonObject     = "claim is an object, not a single value"
	ReasonList       = "claim is a list, not a single value"
	ReasonNotNumber  = "not a number"
	ReasonNotBoolean = "not true or false"
	ReasonTooLong    = "value longer than 4000 characters"
	ReasonUnmapped   = "no mapping for the claim's value"
	ReasonBadPattern = "matches pattern does not compile"
)

// Problem explains why one key was left out.
type Problem struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// Mapper applies a fixed set of rules; it is safe for concurrent use.
type Mapper struct {
	rules []rule // sorted by key, so output and problems are deterministic
}

type rule struct {
	key  string
	cfg  config.ContextRule
	typ  string
	re   *regexp.Regexp
	cond bool // equals, contains, matches or one_of is set
	// constant holds the converted Value of a constant rule.
	constant any
	constErr string
}

// NewMapper prepares rules provisioned by config.Load, which compiles each
// matches pattern into Regexp. A rule whose pattern did not compile (only
// possible for rules built by hand) is always left out with ReasonBadPattern.
func NewMapper(rules map[string]config.ContextRule) *Mapper {
	m := &Mapper{rules: make([]rule, 0, len(rules))}
	for key, r := range rules {
		cr := rule{key: key, cfg: r, typ: r.Type, re: r.Regexp}
		if cr.typ == "" {
			cr.typ = config.TypeString
		}
		cr.cond = r.Equals != nil || r.Contains != nil || r.Matches != "" || r.OneOf != nil
		if r.Claim == "" && r.Value != nil {
			cr.constant, cr.constErr = convert(r.Value, cr.typ)
		}
		m.rules = append(m.rules, cr)
	}
	sort.Slice(m.rules, func(i, j int) bool { return m.rules[i].key < m.rules[j].key })
	return m
}

// Map computes the context values for one user's claims. claims are
// JSON-decoded (float64 or json.Number, string, bool, []any, map[string]any).
// Values are string, json.Number or bool.
func (m *Mapper) Map(claims map[string]any) (values map[string]any, problems []Problem) {
	values = make(map[string]any, len(m.rules))
	for i := range m.rules {
		r := &m.rules[i]
		v, reason, ok := r.apply(claims)
		switch {
		case reason != "":
			problems = append(problems, Problem{Key: r.key, Reason: reason})
		case ok:
			values[r.key] = v
		}
	}
	return values, problems
}

// apply returns the value for one rule; ok=false with no reason means the
// key is deliberately left out (a then/else branch without a value).
func (r *rule) apply(claims map[string]any) (v any, reason string, ok bool) {
	if r.cfg.Claim == "" {
		if r.constErr != "" {
			return nil, r.constErr, false
		}
		return r.constant, "", r.constant != nil
	}
	raw, found := Lookup(claims, r.cfg.Claim)
	if found && raw == nil {
		found = false // JSON null is as good as absent
	}
	var out any
	switch {
	case r.cond:
		hit, reason := r.test(raw, found)
		if reason != "" {
			return nil, reason, false
		}
		switch {
		case r.cfg.Then == nil && r.cfg.Else == nil:
			out = hit
		case hit:
			out = r.cfg.Then
		default:
			out = r.cfg.Else
		}
		if out == nil {
			out = r.cfg.Default
		}
		if out == nil {
			return nil, "", false
		}
	case !found:
		if r.cfg.Default == nil {
			return nil, ReasonMissing, false
		}
		out = r.cfg.Default
	case r.cfg.Map != nil:
		key, reason := canonical(raw)
		if reason != "" {
			return nil, reason, false
		}
		mapped, ok := r.cfg.Map[key]
		if !ok || mapped == nil {
			mapped = r.cfg.Default
		}
		if mapped == nil {
			return nil, ReasonUnmapped, false
		}
		out = mapped
	default:
		out = raw
	}
	v, reason = convert(out, r.typ)
	return v, reason, reason == ""
}

// test evaluates the rule's condition on the claim value.
func (r *rule) test(v any, found bool) (hit bool, reason string) {
	if !found {
		return false, ""
	}
	if _, isObj := v.(map[string]any); isObj {
		return false, ReasonObject
	}
	list, isList := v.([]any)
	switch {
	case r.cfg.Equals != nil:
		if isList {
			return false, ReasonList
		}
		return equal(v, r.cfg.Equals), ""
	case r.cfg.Contains != nil:
		if isList {
			for _, item := range list {
				if equal(item, r.cfg.Contains) {
					return true, ""
				}
			}
			return false, ""
		}
		s, reason := canonical(v)
		if reason != "" {
			return false, reason
		}
		sub, _ := canonical(r.cfg.Contains)
		return strings.Contains(s, sub), ""
	case r.cfg.Matches != "":
		if r.re == nil {
			return false, ReasonBadPattern
		}
		if !isList {
			list = []any{v}
		}
		for _, item := range list {
			if s, reason := canonical(item); reason == "" && r.re.MatchString(s) {
				return true, ""
			}
		}
		return false, ""
	default: // one_of: with a list claim, any shared element is a hit
		if !isList {
			list = []any{v}
		}
		for _, item := range list {
			for _, want := range r.cfg.OneOf {
				if equal(item, want) {
					return true, ""
				}
			}
		}
		return false, ""
	}
}

// Lookup finds a claim by name or dot path. The exact name wins at every
// level, so names that contain dots still resolve.
func Lookup(claims map[string]any, path string) (any, bool) {
	if v, ok := claims[path]; ok {
		return v, true
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if sub, ok := claims[path[:i]].(map[string]any); ok {
			if v, ok := Lookup(sub, path[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}

// equal compares two primitives: numerically when both are numbers (or
// numeric text against a number), otherwise by their text, so the claim
// "true" equals the rule's true and "42" equals 42.
func equal(a, b any) bool {
	fa, aNum := number(a)
	fb, bNum := number(b)
	if aNum && bNum {
		return fa == fb
	}
	sa, ra := canonical(a)
	sb, rb := canonical(b)
	return ra == "" && rb == "" && sa == sb
}

// number returns the numeric value of a number, or of numeric text when the
// other side decides it is a number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		if !config.IsJSONNumber(strings.TrimSpace(n)) {
			return 0, false
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil
	}
	return toFloat(v)
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

// canonical is the text form of a primitive, used for comparisons, map
// lookups and string-typed values.
func canonical(v any) (string, string) {
	switch x := v.(type) {
	case string:
		return x, ""
	case bool:
		return strconv.FormatBool(x), ""
	case json.Number:
		return x.String(), ""
	case int:
		return strconv.Itoa(x), ""
	case int64:
		return strconv.FormatInt(x, 10), ""
	case uint64:
		return strconv.FormatUint(x, 10), ""
	case map[string]any:
		return "", ReasonObject
	case []any:
		return "", ReasonList
	}
	if f, ok := toFloat(v); ok {
		return formatFloat(f), ""
	}
	return "", ReasonObject
}

// formatFloat writes f the way encoding/json does: plain decimals, with an
// exponent only for very large or very small magnitudes.
func formatFloat(f float64) string {
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// convert turns a primitive into the rule's type: string, json.Number or bool.
func convert(v any, typ string) (any, string) {
	switch typ {
	case config.TypeNumber:
		var s string
		switch x := v.(type) {
		case string:
			s = strings.TrimSpace(x)
		case json.Number:
			s = x.String()
		case bool:
			return nil, ReasonNotNumber
		default:
			f, ok := toFloat(v)
			if !ok {
				_, reason := canonical(v)
				return nil, reason
			}
			if math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, ReasonNotNumber
			}
			s, _ = canonical(v)
		}
		if !config.IsJSONNumber(s) {
			return nil, ReasonNotNumber
		}
		if len(s) > config.MaxContextValueLen {
			return nil, ReasonTooLong
		}
		return json.Number(s), ""
	case config.TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, ""
		case string:
			switch s := strings.TrimSpace(x); {
			case strings.EqualFold(s, "true"):
				return true, ""
			case strings.EqualFold(s, "false"):
				return false, ""
			}
			return nil, ReasonNotBoolean
		case map[string]any:
			return nil, ReasonObject
		case []any:
			return nil, ReasonList
		}
		return nil, ReasonNotBoolean
	default:
		s, reason := canonical(v)
		if reason != "" {
			return nil, reason
		}
		if len(s) > config.MaxContextValueLen && utf8.RuneCountInString(s) > config.MaxContextValueLen {
			return nil, ReasonTooLong
		}
		return s, ""
	}
}

// Serialize writes values as the lwicontexts string: the JSON of a flat
// object. encoding/json escapes <, > and & (so the string is safe inside
// HTML), the line separators U+2028/U+2029 and control characters, and
// replaces invalid UTF-8 with U+FFFD, so any claim text yields valid JSON.
func Serialize(values map[string]any) (string, error) {
	b, err := json.Marshal(values)
	if err != nil {
		return "", fmt.Errorf("serialize lwicontexts: %w", err)
	}
	return string(b), nil
}
