// Package redirect decides where a browser may be sent after login or logout.
//
// Only same-origin relative paths are accepted. Everything else, including
// every absolute URL (even one naming this very site), becomes "/". The rules
// are deliberately stricter than what a browser would resolve to the same
// host: the value must also stay harmless after an upstream application
// percent-decodes it, merges slashes or resolves dot segments, because many
// sites build their own redirects from the path they are served.
package redirect

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxLength is the longest rd accepted. Real deep links are far shorter; the
// bound keeps state cookies small and the checks below cheap.
const MaxLength = 2048

// maxDecodeRounds bounds repeated percent-decoding. Each round that changes
// the string shortens it, so this is a CPU bound, not a correctness one:
// values still changing after this many rounds are rejected.
const maxDecodeRounds = 8

// Path returns rd when it is a safe same-origin relative path and "/"
// otherwise; the query and fragment of a safe path are kept unchanged.
//
// rd is safe when it:
//   - is at most MaxLength bytes of printable ASCII, with no space,
//     backslash, '"', '<', '>' or '`' (browsers percent-encode these in real
//     URLs, and strip or rewrite tabs, newlines and backslashes, which is how
//     "/\t/evil.com" and "/\evil.com" become "//evil.com");
//   - starts with exactly one "/" and parses with net/url without a scheme,
//     host or user info;
//   - has a path that, percent-decoded repeatedly until it no longer changes,
//     contains no empty, whitespace-only, "." or ".." segment except a final
//     trailing slash ("//evil.com", "/%2f%2fevil.com", "/./\evil.com",
//     "/a/%2e%2e//evil.com"), no backslash or control character ("%5c",
//     "%09", "%0d%0a"), no invalid UTF-8 and no Unicode look-alike of '/',
//     '\' or '.'.
//
// The query and fragment may hold anything printable (including "https://"),
// because a browser never resolves them into a different origin.
func Path(rd string) string {
	if Valid(rd) {
		return rd
	}
	return "/"
}

// Valid reports whether Path would return rd unchanged. The empty string is
// not valid (Path turns it into "/").
func Valid(rd string) bool {
	if len(rd) < 1 || len(rd) > MaxLength || rd[0] != '/' {
		return false
	}
	for i := 0; i < len(rd); i++ {
		if !allowedRaw(rd[i]) {
			return false
		}
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	path := rd
	if i := strings.IndexAny(rd, "?#"); i >= 0 {
		path = rd[:i]
	}
	decoded, ok := decodeFully(path)
	return ok && safeDecodedPath(decoded)
}

// allowedRaw reports whether b may appear literally in rd.
func allowedRaw(b byte) bool {
	if b <= ' ' || b >= 0x7f {
		return false // controls, space, DEL, and any non-ASCII byte
	}
	switch b {
	case '\\', '"', '<', '>', '`':
		return false
	}
	return true
}

// decodeFully percent-decodes p until it stops changing. Malformed escapes
// are left as they are instead of failing, as lenient decoders in upstream
// applications do, so "%252f%zz" cannot hide a slash behind a decode error.
func decodeFully(p string) (string, bool) {
	for range maxDecodeRounds {
		if !strings.Contains(p, "%") {
			return p, true
		}
		next := decodeOnce(p)
		if next == p {
			return p, true
		}
		p = next
	}
	return "", false
}

func decodeOnce(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// safeDecodedPath checks the fully decoded path, which starts with "/".
func safeDecodedPath(p string) bool {
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRuneInString(p[i:])
		if r < ' ' || r == 0x7f || r == '\\' || lookAlike(r) {
			return false
		}
		i += size
	}
	if p == "/" {
		return true
	}
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		switch strings.TrimSpace(seg) {
		case "":
			if !last || seg != "" { // only a plain trailing slash may be empty
				return false
			}
		case ".", "..":
			return false
		}
	}
	return true
}

// lookAlike reports runes that Unicode normalisation (NFKC, IDNA) or lenient
// parsers can turn into '/', '\' or '.', the characters that change where a
// path points.
func lookAlike(r rune) bool {
	switch r {
	case '\uFF0F', // fullwidth solidus
		'\uFF3C', // fullwidth reverse solidus
		'\u2044', // fraction slash
		'\u2215', // division slash
		'\u29F8', // big solidus
		'\u29F9', // big reverse solidus
		'\u2216', // set minus
		'\uFE68', // small reverse solidus
		'\u3002', // ideographic full stop (an IDNA dot)
		'\uFF0E', // fullwidth full stop
		'\uFF61', // halfwidth ideographic full stop
		'\u2024', // one dot leader
		'\uFE52', // small full stop
		utf8.RuneError:
		return true
	}
	return false
}
