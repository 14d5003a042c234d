package redirect

import (
	"net/url"
	"strings"
	"testing"
)

// attacks are rd values that must all become "/". Names say what each one
// exploits. Several come from oauth2-proxy's advisories: backslash paths
// ("/\evil.com", fixed in v5.0), whitespace between the slashes
// ("/\t/evil.com", GHSA-5m6c-jp6f-2vcv / CVE-2020-4037) and its public list of
// open-redirect payloads (percent-encoded slashes, "%2e%2e" dot segments,
// "@" user info, IDNA dots).
var attacks = []struct{ name, rd string }{
	{"empty", ""},
	{"protocol-relative", "//evil.com"},
	{"triple slash", "///evil.com"},
	{"quadruple slash", "////evil.com/"},
	{"slash backslash", `/\evil.com`},
	{"backslash slash", `\/evil.com`},
	{"double backslash", `\\evil.com`},
	{"backslash pairs", `/\/\/evil.com/`},
	{"encoded slashes after slash", "/%2f%2fevil.com"},
	{"encoded uppercase slashes", "/%2F%2Fevil.com"},
	{"encoded backslash after slash", "/%5cevil.com"},
	{"encoded slash then backslash", "/%2f%5cevil.com"},
	{"encoded slashes without leading slash", "%2f%2fevil.com"},
	{"fully encoded absolute URL", "%68%74%74%70%3a%2f%2fevil.com"},
	{"double-encoded slashes", "/%252f%252fevil.com"},
	{"triple-encoded slashes", "/%25252f%25252fevil.com"},
	{"double-encoded slash behind a bad escape", "/%252f%zz/evil.com"},
	{"raw tab between slashes", "/\t/evil.com"},
	{"raw newline between slashes", "/\n/evil.com"},
	{"raw carriage return between slashes", "/\r/evil.com"},
	{"vertical tab between slashes", "/\v/evil.com"},
	{"tab before backslash", "/\t\\evil.com"},
	{"space between slashes", "/ /evil.com"},
	{"encoded tab between slashes", "/%09/evil.com"},
	{"encoded tab then user info", "/%09/shop.example.com@evil.com"},
	{"encoded CRLF header injection", "/%0d%0a//evil.com"},
	{"raw CRLF header injection", "/x\r\nLocation: https://evil.com"},
	{"encoded space between slashes", "/%20/evil.com"},
	{"encoded NUL between slashes", "/%00/evil.com"},
	{"tab-split javascript scheme", "java\tscript:alert(1)"},
	{"javascript scheme", "javascript:alert(1)"},
	{"mixed-case javascript scheme", "JaVaScRiPt:alert(document.cookie)"},
	{"javascript behind slash-tab", "/%09/javascript:alert(1)"},
	{"entity-obfuscated javascript", "Javas%26%2399;ript:alert(1)"},
	{"data URL", "data:text/html,<script>alert(1)</script>"},
	{"data URL base64", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="},
	{"vbscript scheme", "vbscript:msgbox(1)"},
	{"scheme without slashes", "https:evil.com"},
	{"scheme with one slash", "https:/evil.com"},
	{"scheme with backslashes", `https:\\evil.com`},
	{"absolute https", "https://evil.com"},
	{"absolute http", "http://evil.com/"},
	{"absolute URL naming our own host", "https://shop.example.com/cart"},
	{"user info look-alike", "http://shop.example.com@evil.com"},
	{"protocol-relative user info", "//shop.example.com@evil.com"},
	{"look-alike host", "https://shop.example.com.evil.com/"},
	{"look-alike punycode host", "https://xn--shp-example-6db.com/"},
	{"dotted decimal IP", "http://3627734734"},
	{"IPv6-mapped IP", "http://[::ffff:216.58.214.206]"},
	{"protocol-relative with encoded dotdot", "//evil.com/%2f.."},
	{"protocol-relative with encoded dots", "//evil.com/%2e%2e"},
	{"protocol-relative with port fragment trick", "//evil.com:80#@shop.example.com/"},
	{"protocol-relative with query trick", "//evil.com:80?@shop.example.com/"},
	{"protocol-relative with semicolon user info", "//;@evil.com"},
	{"leading space", " //evil.com"},
	{"leading tab", "\t//evil.com"},
	{"leading NUL", "\x00//evil.com"},
	{"leading newline", "\n/evil.com"},
	{"trailing newline", "/cart\n"},
	{"DEL character", "/\x7f/evil.com"},
	{"fullwidth solidi", "\uff0f\uff0fevil.com"},
	{"fullwidth solidi after slash", "/\uff0f\uff0fevil.com"},
	{"encoded fullwidth solidi after slash", "/%EF%BC%8F%EF%BC%8Fevil.com"},
	{"encoded fullwidth reverse solidus", "/%EF%BC%BCevil.com"},
	{"division slash", "/\u2215evil.com"},
	{"ideographic full stop host", "//evil%E3%80%82com"},
	{"NUL in host", "//evil%00.com"},
	{"dot segment then backslash", `/./\evil.com`},
	{"dot segment then slash", "/.//evil.com"},
	{"dotdot segments then backslash", `/./../../\evil.com`},
	{"encoded dotdot climbing", "/a/%2e%2e/%2e%2e//evil.com"},
	{"encoded dot segment", "/%2e/evil.com"},
	{"dotdot segment", "/shop/../admin"},
	{"double slash inside path", "/prefix//evil.com"},
	{"encoded double slash inside path", "/prefix/%2f/evil.com"},
	{"whitespace-only segment", "/a/%20/b"},
	{"path scheme look-alike", "/https:/%5cevil.com/"},
	{"angle brackets", "/<>//evil.com"},
	{"quote breaking out of an attribute", `/"><script>alert(1)</script>`},
	{"backtick", "/`alert(1)`"},
	{"relative path without slash", "evil.com"},
	{"relative dot path", "./evil.com"},
	{"at sign without slash", "@evil.com"},
	{"bare query", "?next=//evil.com"},
	{"bare fragment", "#//evil.com"},
	{"invalid percent escape", "/100%zz"},
	{"invalid UTF-8 after decoding", "/%ff%fe"},
	{"raw non-ASCII", "/caf\u00e9"},
	{"too long", "/" + strings.Repeat("a", MaxLength)},
}

func TestPathRejectsAttacks(t *testing.T) {
	for _, tc := range attacks {
		t.Run(tc.name, func(t *testing.T) {
			if got := Path(tc.rd); got != "/" {
				t.Errorf("Path(%q) = %q, want %q", tc.rd, got, "/")
			}
			if Valid(tc.rd) {
				t.Errorf("Valid(%q) = true, want false", tc.rd)
			}
		})
	}
}

func TestPathKeepsSafePaths(t *testing.T) {
	tests := []struct{ name, rd string }{
		{"root", "/"},
		{"path with query and fragment", "/shop/cart?x=1#top"},
		{"encoded space", "/a/b%20c"},
		{"colon in a later segment", "/path/with:colon"},
		{"colon in the first segment", "/a:b"},
		// "@" means user info only inside an authority, and an authority
		// needs a leading "//". "/@evil.com" is the path "/@evil.com" on
		// this host, exactly as browsers and net/url resolve it (many sites
		// use "/@user" profile URLs).
		{"at sign path", "/@evil.com"},
		{"semicolon at sign path", "/;@evil.com"},
		{"trailing slash", "/shop/"},
		{"absolute URL in the query", "/cb?next=https://evil.com"},
		{"double slash in the query", "/?next=//evil.com"},
		{"backslash encoded in the query", "/search?q=a%5Cb"},
		{"fragment with slashes", "/docs#//section"},
		{"encoded non-ASCII", "/caf%C3%A9/gr%C3%B6%C3%9Fe"},
		{"encoded percent", "/discount/100%25"},
		{"dots inside a segment", "/files/archive.tar.gz"},
		{"dot-prefixed segment", "/.well-known/thing"},
		{"triple dots", "/a/.../b"},
		{"max length", "/" + strings.Repeat("a", MaxLength-1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Path(tc.rd); got != tc.rd {
				t.Errorf("Path(%q) = %q, want it unchanged", tc.rd, got)
			}
			if !Valid(tc.rd) {
				t.Errorf("Valid(%q) = false, want true", tc.rd)
			}
			assertStaysOnHost(t, tc.rd)
		})
	}
}

const testOrigin = "https://shop.example.com"

// assertStaysOnHost checks out as both net/url and a browser see it: the
// value resolves to the test origin, and after the WHATWG URL parser's
// clean-up (leading C0/space trimmed, tab/CR/LF removed, '\' read as '/' in
// special schemes) it still does not start with "//".
func assertStaysOnHost(t *testing.T, out string) {
	t.Helper()
	base, _ := url.Parse(testOrigin)
	ref, err := url.Parse(out)
	if err != nil {
		t.Fatalf("output %q does not parse: %v", out, err)
	}
	abs := base.ResolveReference(ref)
	if abs.Scheme != base.Scheme || abs.Host != base.Host || abs.User != nil {
		t.Fatalf("output %q resolves to %q, off %s", out, abs, testOrigin)
	}
	browser := strings.TrimLeft(out, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\v\f\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	browser = strings.NewReplacer("\t", "", "\r", "", "\n", "", `\`, "/").Replace(browser)
	if !strings.HasPrefix(browser, "/") || strings.HasPrefix(browser, "//") {
		t.Fatalf("output %q reads as %q to a browser: not a same-origin path", out, browser)
	}
}

// TestPathRejectsQueryUnescapedAttacks mirrors how rd arrives: the login
// handler reads it with Query().Get, which decodes one layer. Every attack
// must also fail after that decoding.
func TestPathRejectsQueryUnescapedAttacks(t *testing.T) {
	for _, tc := range attacks {
		unescaped, err := url.QueryUnescape(tc.rd)
		if err != nil || unescaped == tc.rd {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if got := Path(unescaped); got != "/" {
				t.Errorf("Path(%q) = %q, want %q", unescaped, got, "/")
			}
		})
	}
}

func FuzzPath(f *testing.F) {
	for _, tc := range attacks {
		f.Add(tc.rd)
	}
	for _, s := range []string{"/", "/shop/cart?x=1#top", "/a/b%20c", "/@evil.com", "/a%2fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rd string) {
		out := Path(rd)
		if out != rd && out != "/" {
			t.Fatalf("Path(%q) = %q: neither the input nor /", rd, out)
		}
		if Valid(rd) != (out == rd && rd != "") {
			t.Fatalf("Valid(%q) disagrees with Path", rd)
		}
		assertStaysOnHost(t, out)
		// A safe output must stay safe for an upstream that decodes it
		// once more before redirecting.
		if dec, err := url.PathUnescape(out); err == nil && strings.HasPrefix(strings.ReplaceAll(dec, `\`, "/"), "//") {
			t.Fatalf("Path(%q) = %q decodes to protocol-relative %q", rd, out, dec)
		}
	})
}

func BenchmarkPath(b *testing.B) {
	for b.Loop() {
		Path("/shop/cart/items?x=1&y=%20z#top")
	}
}
