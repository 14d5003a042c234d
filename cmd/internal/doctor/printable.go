package doctor

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// printable returns s with everything a terminal would act on instead of
// show written as a visible Go escape: C0 controls and DEL (\x1b, \n),
// C1 controls (\u009b), bidi overrides and isolates (\u202e, \u2066),
// line and paragraph separators (\u2028), other format and unassigned
// runes, and bytes that are not UTF-8 (\xff). Whatever the checked site
// puts in a value, one finding stays one line that cannot move the
// cursor, clear the screen or reorder what follows it. Text that is all
// graphic (letters, marks, numbers, punctuation, symbols, spaces) is
// returned as is; a backslash is kept, so the escapes are for reading,
// not for decoding.
func printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, needsEscape) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case !needsEscape(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRuneToGraphic(r) // '\x1b', '\n', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// needsEscape reports whether r is not safe to hand to a terminal as is.
func needsEscape(r rune) bool {
	return !strconv.IsGraphic(r)
}
