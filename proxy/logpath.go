package proxy

import (
	"slices"
	"strings"
)

// loggedPath is a request path as the access log, the upstream error log
// and spans record it. The query is never recorded (codes, states and
// tokens travel there), but a path can hold one too: an encoded "?"
// (/cb%3Fcode%3D…, from a link encoded once too often) decodes into the
// path, and matrix parameters (;jsessionid=…) are part of it. So the
// values of parameters that look secret are replaced by REDACTED, after
// '?', '&' or ';' anywhere in the path. A path without '=', nearly every
// one, is returned as it is without allocating.
func loggedPath(p string) string {
	if strings.IndexByte(p, '=') < 0 {
		return p
	}
	var b strings.Builder
	last := 0 // p[:last] is written to b (once b is in use)
	for i := 0; i < len(p); i++ {
		if p[i] != '=' {
			continue
		}
		start := strings.LastIndexAny(p[:i], "?&;/")
		if start < 0 || p[start] == '/' || !secretParam(p[start+1:i]) {
			continue
		}
		end := i + 1
		for end < len(p) && !strings.ContainsRune("&;/#", rune(p[end])) {
			end++
		}
		if end == i+1 {
			continue // an empty value hides nothing
		}
		if b.Len() == 0 {
			b.Grow(len(p))
		}
		b.WriteString(p[last : i+1])
		b.WriteString(redactedValue)
		last, i = end, end-1
	}
	if last == 0 {
		return p
	}
	b.WriteString(p[last:])
	return b.String()
}

const redactedValue = "REDACTED"

// secretExact are parameter names whose values are credentials or
// single-use codes (OAuth 2.0, OpenID Connect, common session and API-key
// names); secretParts make any name that contains them secret.
var (
	secretExact = []string{
		"code", "state", "session_state", "code_verifier", "assertion", "client_assertion",
		"sig", "signature", "key", "api_key", "apikey", "auth", "jwt", "ticket", "sid",
		"pwd", "passwd", "jsessionid", "phpsessid", "sessionid",
	}
	secretParts = []string{"token", "secret", "password"}
)

// secretParam reports whether a parameter named name (any case) carries a
// secret: access_token, id_token, refresh_token, logout_token,
// client_secret, password, code, state and the like. Only paths that hold
// such parameters get here, so it may allocate.
func secretParam(name string) bool {
	lower := strings.ToLower(name)
	return slices.Contains(secretExact, lower) ||
		slices.ContainsFunc(secretParts, func(s string) bool { return strings.Contains(lower, s) })
}
