package doctor

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// What a site can put in a value reaches the terminal as visible escapes;
// what a terminal only shows is left alone.
func TestPrintable(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain text", "widget loader https://cdn.example/a.js — fix: x…", "widget loader https://cdn.example/a.js — fix: x…"},
		{"non-Latin text", "Grüße, 你好, مرحبا", "Grüße, 你好, مرحبا"},
		{"ESC sequences", "\x1b[2J\x1b[1;1HOK", `\x1b[2J\x1b[1;1HOK`},
		{"a newline cannot start a fake line", "app\nOK    keys  fine", `app\nOK    keys  fine`},
		{"carriage return, tab, bell, NUL", "a\rb\tc\ad\x00", `a\rb\tc\ad\x00`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 CSI and NEL", "a\u009b2Jb\u0085c", `a\u009b2Jb\u0085c`},
		{"bidi overrides and isolates", "\u202aa\u202bb\u202cc\u202dd\u202ee\u2066f\u2067g\u2068h\u2069", `\u202aa\u202bb\u202cc\u202dd\u202ee\u2066f\u2067g\u2068h\u2069`},
		{"line and paragraph separators", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"bytes that are not UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"OSC title with ST", "\x1b]0;pwned\x1b\\", `\x1b]0;pwned\x1b\`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := printable(tc.in); got != tc.want {
				t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// One finding is one line, whatever its text and fix hold.
func TestWriteOneLinePerFinding(t *testing.T) {
	r := &Report{Findings: []Finding{
		{Level: OK, Area: "page", Text: "widget loader for app \x1b[2J\x1b[1;1H\nOK    keys  everything fine\r\n"},
		{Level: Error, Area: "keys", Text: "kid \u2028OK", Fix: "x\nOK    token fine"},
	}}
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []string{
		`OK    page  widget loader for app \x1b[2J\x1b[1;1H\nOK    keys  everything fine\r\n`,
		`ERROR keys  kid \u2028OK — fix: x\nOK    token fine`,
		"1 error(s), 0 warning(s)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Write:\n%s\nwant:\n%s", b.String(), strings.Join(want, "\n"))
	}
}

// FuzzPrintable: the result is valid UTF-8 with nothing but graphic runes,
// graphic text comes back unchanged, and it grows at most fourfold (\xNN
// for one byte).
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[2J\n", "\u202e\u2028\u0085", "\xff\xc3", "a\\x1b", "\U0010ffff\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := printable(s)
		if !utf8.ValidString(got) {
			t.Fatalf("printable(%q) = %q: not UTF-8", s, got)
		}
		for _, r := range got {
			if !strconv.IsGraphic(r) {
				t.Fatalf("printable(%q) = %q holds %U", s, got, r)
			}
		}
		if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !strconv.IsGraphic(r) }) && got != s {
			t.Fatalf("printable(%q) = %q: changed graphic text", s, got)
		}
		if len(got) > 4*len(s) {
			t.Fatalf("printable(%q) = %q: %d bytes from %d", s, got, len(got), len(s))
		}
	})
}
