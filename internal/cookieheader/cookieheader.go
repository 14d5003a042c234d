// Package cookieheader reads the Cookie request header the way the proxy's
// readers need it: one pass, no allocation, every pair in the order the
// browser sent it (net/http's Request.Cookies drops pairs it finds invalid
// and allocates for each, so a reader of our own cookies and the stripper
// that keeps them from the upstream share this instead).
package cookieheader

import (
	"iter"
	"strings"
)

// Pair is one part of a Cookie header. Raw is the part as sent, trimmed of
// surrounding spaces; Name is the text before the first "=" (all of Raw
// when there is none, as browsers send a cookie without a name) and Value
// the text after it, without surrounding double quotes.
type Pair struct {
	Name, Value, Raw string
	HasValue         bool // Raw contains "="
}

// Pairs yields the non-empty parts of one Cookie header line.
func Pairs(line string) iter.Seq[Pair] {
	return func(yield func(Pair) bool) {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			p := Pair{Raw: part}
			p.Name, p.Value, p.HasValue = strings.Cut(part, "=")
			p.Value = strings.TrimSpace(p.Value)
			if len(p.Value) >= 2 && p.Value[0] == '"' && p.Value[len(p.Value)-1] == '"' {
				p.Value = p.Value[1 : len(p.Value)-1]
			}
			if !yield(p) {
				return
			}
		}
	}
}
