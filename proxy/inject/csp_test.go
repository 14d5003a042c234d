package inject

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

func TestParseAndFormatCSP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"default-src 'self'", "default-src 'self'"},
		{"  DEFAULT-SRC   'self'  https://a ;;  img-src * ; ", "default-src 'self' https://a; img-src *"},
		{"upgrade-insecure-requests; script-src 'none'", "upgrade-insecure-requests; script-src 'none'"},
		{"script-src a; script-src b", "script-src a; script-src b"}, // duplicates kept, only the first counts
		{"", ""},
		{"default-src 'self', script-src 'none'", "default-src 'self', script-src 'none'"},
		{" , default-src a", "default-src a"},
		{"script-src\t'self'\n\f\r", "script-src 'self'"},
		// Browsers split and lower-case ASCII only: these names are no
		// directive to them, and must stay that way.
		{"script-src\u00a0https://evil", "script-src\u00a0https://evil"},
		{"script-src\v'none'", "script-src\v'none'"},
		{"SCR\u0130PT-SRC https://evil", "scr\u0130pt-src https://evil"},
		{"script-src a\u2003b", "script-src a\u2003b"},
	}
	for _, tc := range tests {
		if got := formatCSPList(parseCSPList(tc.in)); got != tc.want {
			t.Errorf("round trip %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCSPAllow(t *testing.T) {
	base := cspAllowance{nonce: "N"}
	withOrigin := cspAllowance{nonce: "N", bootstrapSource: "https://s.example/_lcw/bootstrap.js", ownConnect: "https://s.example/_lcw/"}
	widget := cspAllowance{nonce: "N", widget: config.WidgetSources{Script: []string{"https://cdn.example"}, Connect: []string{"https://*.hub.example"}}}
	every := cspAllowance{nonce: "N", widget: config.WidgetSources{Script: []string{"https://cdn.example"}, Connect: []string{"https://*.hub.example", "wss://*.hub.example"},
		Frame: []string{"https://cdn.example"}, Img: []string{"https://cdn.example", "data:"}, Media: []string{"data:"}, Font: []string{"https://font.example"}}}
	fallback := cspAllowance{nonce: "N", handlerHashes: []string{"'sha256-H'"}}
	tests := []struct {
		name string
		in   string
		a    cspAllowance
		want string
	}{
		{"nonce added to script-src", "script-src 'self' https://x; img-src *", base,
			"script-src 'self' https://x 'nonce-N'; img-src *"},
		{"nonce added to default-src when no script-src", "default-src 'self'; img-src *", base,
			"default-src 'self' 'nonce-N'; img-src *"},
		{"default-src untouched when script-src exists", "default-src 'none'; script-src 'self'", base,
			"default-src 'none'; script-src 'self' 'nonce-N'"},
		{"script-src-elem and script-src both get it", "script-src-elem 'self'; script-src 'self'", base,
			"script-src-elem 'self' 'nonce-N'; script-src 'self' 'nonce-N'"},
		{"script-src-elem alone", "default-src 'none'; script-src-elem https://a", base,
			"default-src 'none'; script-src-elem https://a 'nonce-N'"},
		{"'none' replaced by the nonce only", "script-src 'none'; object-src 'none'", base,
			"script-src 'nonce-N'; object-src 'none'"},
		{"'NONE' keyword case", "script-src 'NONE'", base, "script-src 'nonce-N'"},
		{"strict-dynamic: nonce is enough", "script-src 'strict-dynamic' 'nonce-old'", widget,
			"script-src 'strict-dynamic' 'nonce-old' 'nonce-N'"},
		{"unsafe-inline without nonce: no nonce, exact source instead", "script-src https://x 'unsafe-inline'", withOrigin,
			"script-src https://x 'unsafe-inline' https://s.example/_lcw/bootstrap.js"},
		{"unsafe-inline with self: already allowed", "script-src 'self' 'UNSAFE-INLINE'", withOrigin,
			"script-src 'self' 'UNSAFE-INLINE'"},
		{"unsafe-inline already neutralized by a hash", "script-src 'unsafe-inline' 'sha256-abc'", base,
			"script-src 'unsafe-inline' 'sha256-abc' 'nonce-N'"},
		{"no script policy at all", "img-src 'self'; frame-ancestors 'none'", base,
			"img-src 'self'; frame-ancestors 'none'"},
		{"widget host and connect hosts", "script-src 'self'; connect-src 'self'", widget,
			"script-src 'self' 'nonce-N' https://cdn.example; connect-src 'self' https://*.hub.example"},
		{"widget via default-src: script-src and connect-src copied, default-src untouched", "default-src 'self'", widget,
			"default-src 'self'; script-src 'self' 'nonce-N' https://cdn.example; connect-src 'self' https://*.hub.example"},
		{"connect-src 'none' replaced", "connect-src 'none'", widget, "connect-src https://*.hub.example"},
		{"connect-src * already allows", "connect-src *; script-src *", widget, "connect-src *; script-src * 'nonce-N' https://cdn.example"},
		{"own endpoint in connect-src when self missing", "default-src 'none'", withOrigin,
			"default-src 'nonce-N'; connect-src https://s.example/_lcw/"},
		{"own endpoint not needed with self", "connect-src 'self'; script-src 'self'", withOrigin,
			"connect-src 'self'; script-src 'self' 'nonce-N'"},
		{"only the first duplicate directive changes", "script-src 'self'; script-src 'none'", base,
			"script-src 'self' 'nonce-N'; script-src 'none'"},
		{"a name browsers ignore is not made a directive", "default-src 'self'; script-src\u00a0https://evil", base,
			"default-src 'self' 'nonce-N'; script-src\u00a0https://evil"},
		{"nor one lower-cased only outside ASCII", "default-src 'self'; SCR\u0130PT-SRC https://evil", base,
			"default-src 'self' 'nonce-N'; scr\u0130pt-src https://evil"},
		{"every widget directive, from default-src: each copied, default-src untouched", "default-src 'none'; frame-ancestors 'none'", every,
			"default-src 'none'; frame-ancestors 'none'; script-src 'nonce-N' https://cdn.example; connect-src https://*.hub.example wss://*.hub.example; frame-src https://cdn.example; img-src https://cdn.example data:; media-src data:; font-src https://font.example"},
		{"every widget directive, present: sources added in place", "script-src 'self'; connect-src 'self'; frame-src 'none'; img-src 'self'; media-src 'none'; font-src 'self'", every,
			"script-src 'self' 'nonce-N' https://cdn.example; connect-src 'self' https://*.hub.example wss://*.hub.example; frame-src https://cdn.example; img-src 'self' https://cdn.example data:; media-src data:; font-src 'self' https://font.example"},
		{"frame-src copied from child-src, not default-src; child-src untouched (it governs workers too)", "default-src 'self'; child-src 'none'; script-src 'self'", every,
			"default-src 'self'; child-src 'none'; script-src 'self' 'nonce-N' https://cdn.example; connect-src 'self' https://*.hub.example wss://*.hub.example; frame-src https://cdn.example; img-src 'self' https://cdn.example data:; media-src 'self' data:; font-src 'self' https://font.example"},
		{"no directive for what nothing restricts", "script-src 'self'; object-src 'none'", every,
			"script-src 'self' 'nonce-N' https://cdn.example; object-src 'none'"},
		{"* covers hosts, not data:; https: covers https hosts", "default-src 'none'; script-src 'self'; img-src *; connect-src https: wss:; font-src https:", every,
			"default-src 'none'; script-src 'self' 'nonce-N' https://cdn.example; img-src * data:; connect-src https: wss:; font-src https:; frame-src https://cdn.example; media-src data:"},
		{"fallback handler: 'unsafe-hashes' and its hash beside the nonce", "script-src 'self'", fallback,
			"script-src 'self' 'nonce-N' 'unsafe-hashes' 'sha256-H'"},
		{"fallback handler under strict-dynamic", "script-src 'strict-dynamic' 'nonce-x'", fallback,
			"script-src 'strict-dynamic' 'nonce-x' 'nonce-N' 'unsafe-hashes' 'sha256-H'"},
		{"fallback handler via default-src: copied into script-src", "default-src 'self'", fallback,
			"default-src 'self'; script-src 'self' 'nonce-N' 'unsafe-hashes' 'sha256-H'"},
		{"fallback handler: script-src-attr gets the hash", "script-src 'self'; script-src-attr 'none'", fallback,
			"script-src 'self' 'nonce-N' 'unsafe-hashes' 'sha256-H'; script-src-attr 'unsafe-hashes' 'sha256-H'"},
		{"fallback handler beside script-src-elem only: a script-src-attr from default-src", "default-src 'self'; script-src-elem 'self'", fallback,
			"default-src 'self'; script-src-elem 'self' 'nonce-N' 'unsafe-hashes' 'sha256-H'; script-src-attr 'self' 'unsafe-hashes' 'sha256-H'"},
		{"fallback handler: unsafe-inline runs it already, no hash to switch it off", "script-src https://x 'unsafe-inline'; script-src-attr 'unsafe-inline'", fallback,
			"script-src https://x 'unsafe-inline'; script-src-attr 'unsafe-inline'"},
		{"never adds unsafe-inline or unsafe-eval", "default-src 'self'; script-src 'self' 'unsafe-eval'", widget,
			"default-src 'self'; script-src 'self' 'unsafe-eval' 'nonce-N' https://cdn.example; connect-src 'self' https://*.hub.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := parseCSP(tc.in)
			got := in.allow(tc.a).String()
			if got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
			if strings.Count(strings.ToLower(got), "'unsafe-inline'") != strings.Count(strings.ToLower(tc.in), "'unsafe-inline'") {
				t.Errorf("'unsafe-inline' count changed")
			}
			if in.String() != formatCSPList(parseCSPList(tc.in)) {
				t.Errorf("allow modified its input")
			}
		})
	}
}

var nonceRE = regexp.MustCompile(`nonce="([A-Za-z0-9_-]{22})"`)

func TestCSPHeadersAndTags(t *testing.T) {
	w := config.Widget{Src: "https://cdn.example/lcw/LiveChatBootstrapper.js", AppID: "a", OrgID: "o", OrgURL: "https://o.omnichannelengagementhub.com", LCWVersion: "prod"}
	inj, _ := testInjector(t, func(o *Options) { o.Widget = w; o.AllowWidgetCSP = true; o.WidgetSources = config.WidgetCSP(w, nil) })
	h := http.Header{"Content-Type": {"text/html"}}
	h.Add("Content-Security-Policy", "script-src 'self'")
	h.Add("Content-Security-Policy", "default-src 'none', script-src 'strict-dynamic' 'nonce-x'")
	h.Add("Content-Security-Policy-Report-Only", "script-src 'none'; report-uri /r")
	resp, out := run(t, inj, response{header: h, body: []byte("<head></head>")})

	m := nonceRE.FindAllSubmatch(out, -1)
	if len(m) != 2 || !bytes.Equal(m[0][1], m[1][1]) {
		t.Fatalf("want both tags with one nonce, got %s", out)
	}
	n := string(m[0][1])
	csp := resp.Header.Values("Content-Security-Policy")
	ws := config.WidgetCSP(w, nil)
	want := []string{
		"script-src 'self' 'nonce-" + n + "' " + strings.Join(ws.Script, " "),
		"default-src 'none'; script-src 'nonce-" + n + "' " + strings.Join(ws.Script, " ") + "; connect-src " + strings.Join(ws.Connect, " ") +
			"; frame-src " + strings.Join(ws.Frame, " ") + "; img-src " + strings.Join(ws.Img, " ") + "; media-src " + strings.Join(ws.Media, " ") +
			"; font-src " + strings.Join(ws.Font, " ") +
			", script-src 'strict-dynamic' 'nonce-x' 'nonce-" + n + "'",
	}
	if strings.Join(csp, "\n") != strings.Join(want, "\n") {
		t.Errorf("CSP\n got %q\nwant %q", csp, want)
	}
	if got, want := resp.Header.Get("Content-Security-Policy-Report-Only"), "script-src 'nonce-"+n+"' "+strings.Join(ws.Script, " ")+"; report-uri /r"; got != want {
		t.Errorf("report-only\n got %q\nwant %q", got, want)
	}

	// A second response gets a fresh nonce.
	h2 := http.Header{"Content-Type": {"text/html"}, "Content-Security-Policy": {"script-src 'self'"}}
	_, out2 := run(t, inj, response{header: h2, body: []byte("<head></head>")})
	if m2 := nonceRE.FindSubmatch(out2); m2 == nil || string(m2[1]) == n {
		t.Errorf("nonce reused or missing across responses: %s", out2)
	}
}

func TestNoNonceWithoutPolicy(t *testing.T) {
	inj, _ := testInjector(t, nil)
	_, out := run(t, inj, response{body: []byte("<head></head>")})
	if bytes.Contains(out, []byte("nonce")) {
		t.Errorf("nonce without a policy: %s", out)
	}
}

func TestMetaCSPRewritten(t *testing.T) {
	inj, _ := testInjector(t, nil)
	page := `<head><meta charset="utf-8"><META HTTP-EQUIV="Content-Security-Policy" CONTENT="script-src 'self'; img-src &apos;self&apos;"><meta http-equiv="refresh" content="5"></head><body>`
	_, out := run(t, inj, response{body: []byte(page)})
	m := nonceRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("tag without nonce: %s", out)
	}
	want := `<head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="script-src &#39;self&#39; &#39;nonce-` + string(m[1]) +
		`&#39;; img-src &#39;self&#39;"><meta http-equiv="refresh" content="5"><script src="/_lcw/bootstrap.js?v=abc" defer nonce="` + string(m[1]) + `"></script></head><body>`
	if string(out) != want {
		t.Errorf("\n got %s\nwant %s", out, want)
	}
}

func TestMetaCSPAfterInsertionPointIgnored(t *testing.T) {
	inj, _ := testInjector(t, nil)
	page := `<head></head><body><meta http-equiv="content-security-policy" content="script-src 'none'">`
	_, out := run(t, inj, response{body: []byte(page)})
	if want := `<head>` + testTag + `</head><body><meta http-equiv="content-security-policy" content="script-src 'none'">`; string(out) != want {
		t.Errorf("got %s", out)
	}
}

// widgetOptions turn on everything that adds sources to a policy, so the
// rewriter does the most work per policy it is handed.
func widgetOptions(o *Options) {
	o.Widget = config.Widget{Src: "https://cdn.example/lcw/LiveChatBootstrapper.js", AppID: "a", OrgID: "o", OrgURL: "https://o.example", LCWVersion: "prod",
		FallbackSrc: "https://x.blob.core.windows.net/lcw/LiveChatBootstrapper.js"}
	o.AllowWidgetCSP = true
	o.WidgetSources = config.WidgetCSP(o.Widget, nil)
	o.PublicOrigin = "https://shop.example"
}

// Past the limits a page keeps every byte and every header as the upstream
// sent them, and the skip is counted; up to them it is injected as usual.
func TestCSPLimits(t *testing.T) {
	policies := func(n int) string {
		return strings.TrimSuffix(strings.Repeat("default-src 'self', ", n), ", ")
	}
	metas := func(n int) string {
		return "<head>" + strings.Repeat(`<meta http-equiv="Content-Security-Policy" content="default-src 'self'">`, n) + "</head><body>"
	}
	csp := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"text/html"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	hugePolicy := "script-src" + strings.Repeat(" https://a.example", 64<<10/18+1)
	tests := []struct {
		name   string
		header http.Header
		page   string
		result string
	}{
		{"16 policies in one header", csp("Content-Security-Policy", policies(16)), "<head></head>", "injected"},
		{"17 policies in one header", csp("Content-Security-Policy", policies(17)), "<head></head>", "skipped_csp_too_large"},
		{"policies of both headers count together", csp("Content-Security-Policy", policies(9), "Content-Security-Policy-Report-Only", policies(8)), "<head></head>", "skipped_csp_too_large"},
		{"policies of repeated header lines count together", csp("Content-Security-Policy", policies(10), "Content-Security-Policy", policies(7)), "<head></head>", "skipped_csp_too_large"},
		{"empty policies are not counted", csp("Content-Security-Policy", policies(16)+strings.Repeat(", ", 40)), "<head></head>", "injected"},
		{"17 header lines", csp(strings.Split(strings.Repeat("Content-Security-Policy\x00img-src *\x00", 17), "\x00")...), "<head></head>", "skipped_csp_too_large"},
		{"a policy over 64 KiB", csp("Content-Security-Policy", hugePolicy), "<head></head>", "skipped_csp_too_large"},
		{"16 meta policies", nil, metas(16), "injected"},
		{"17 meta policies", nil, metas(17), "skipped_csp_too_large"},
		{"1,000 meta policies", nil, metas(1000), "skipped_csp_too_large"},
		{"meta policies separated by commas count one by one", nil,
			`<head><meta http-equiv="content-security-policy" content="` + policies(17) + `"></head>`, "skipped_csp_too_large"},
		{"header and meta limits are separate", csp("Content-Security-Policy", policies(16)), metas(16), "injected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj, m := testInjector(t, widgetOptions)
			if tc.header == nil {
				tc.header = csp()
			}
			before := tc.header.Clone()
			resp, out := run(t, inj, response{header: tc.header, body: []byte(tc.page)})
			if got := testutil.ToFloat64(m.Injections.WithLabelValues(tc.result)); got != 1 {
				t.Errorf("injections{result=%q} = %v, want 1", tc.result, got)
			}
			injected := bytes.Contains(out, []byte("/_lcw/bootstrap.js"))
			if want := tc.result == "injected"; injected != want {
				t.Fatalf("injected = %v, want %v: %.300s", injected, want, out)
			}
			if injected {
				return
			}
			if string(out) != tc.page {
				t.Errorf("page changed: %.300s", out)
			}
			for _, name := range []string{"Content-Security-Policy", "Content-Security-Policy-Report-Only"} {
				if got, want := resp.Header.Values(name), before.Values(name); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s changed: %.300q", name, got)
				}
			}
		})
	}
}

// Browsers read the first content attribute of a <meta> tag only, and the
// tokenizer drops the repeats as they do: repeating the attribute cannot
// multiply the work past the limits either.
func TestMetaCSPRepeatedContentRewrittenOnce(t *testing.T) {
	inj, m := testInjector(t, widgetOptions)
	page := `<head><meta http-equiv="content-security-policy"` + strings.Repeat(` content="default-src 'self'"`, 1000) + `></head>`
	_, out := run(t, inj, response{body: []byte(page)})
	if n := testutil.ToFloat64(m.Injections.WithLabelValues("injected")); n != 1 {
		t.Fatalf("not injected: %.300s", out)
	}
	if n := bytes.Count(out, []byte("nonce-")); n != 1 {
		t.Errorf("%d content attributes opened, want the first only", n)
	}
	if grew := len(out) - len(page); grew > 2<<10 {
		t.Errorf("page grew by %d bytes", grew)
	}
}

// The amplification attack itself: a 1 MiB header of tiny policies (the
// report was 8 MB, taking the process from 25 MB to 1.39 GB) costs no more
// than passing the page through.
func TestCSPAmplificationBounded(t *testing.T) {
	inj, m := testInjector(t, widgetOptions)
	attack := strings.Repeat("default-src a,", 1<<20/len("default-src a,"))
	h := http.Header{"Content-Type": {"text/html"}, "Content-Security-Policy": {attack}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp, out := run(t, inj, response{header: h, body: []byte("<head></head>")})
	runtime.ReadMemStats(&after)
	if got := resp.Header.Get("Content-Security-Policy"); got != attack {
		t.Errorf("policy rewritten: %d bytes out of %d", len(got), len(attack))
	}
	if string(out) != "<head></head>" {
		t.Errorf("page changed: %.300s", out)
	}
	if n := testutil.ToFloat64(m.Injections.WithLabelValues("skipped_csp_too_large")); n != 1 {
		t.Errorf("skip not counted: %v", n)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("one response allocated %d KiB for a 1 MiB policy header", grew>>10)
	}
}

// FuzzCSP: for any header value or <meta> content within the limits (past
// them the page passes through, see TestCSPLimits), the rewriter never
// panics, never removes a directive or a source (only a 'none' it replaces
// with something), stays within three times the input plus a constant per
// policy, and puts the nonce only in the directives that govern scripts,
// where a policy that restricts scripts then admits ours.
func FuzzCSP(f *testing.F) {
	for _, s := range []string{
		"default-src 'self'", "script-src 'none'; object-src 'none'", "script-src 'strict-dynamic' 'nonce-x'",
		"script-src https://x 'unsafe-inline'", "default-src 'none', script-src 'self'", "connect-src 'none'",
		"SCRIPT-SRC-ELEM a; script-src b; script-src c", " , ;; ,default-src *", "img-src 'nonce-N0nce'",
		"script-src 'unsafe-inline' 'sha256-x'", "upgrade-insecure-requests", "",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	plain := cspAllowance{nonce: "N0nce"}
	full := cspAllowance{nonce: "N0nce", bootstrapSource: "https://s.example/_lcw/bootstrap.js", ownConnect: "https://s.example/_lcw/",
		widget:        config.WidgetCSP(config.Widget{Src: "https://cdn.example/l.js", FallbackSrc: "https://x.blob.core.windows.net/l.js", OrgURL: "https://o-crm4.omnichannelengagementhub.com"}, nil),
		handlerHashes: []string{"'sha256-0123456789012345678901234567890123456789012='"}}
	// What one policy can gain besides copies of its default-src: every
	// source we know, twice, and the names of the directives we add.
	perPolicy := 128
	for _, s := range append([]string{full.nonce, full.bootstrapSource, full.ownConnect, "'unsafe-hashes'", full.handlerHashes[0]}, slices.Concat(
		full.widget.Script, full.widget.Connect, full.widget.Frame, full.widget.Img, full.widget.Media, full.widget.Font)...) {
		perPolicy += 2 * (len(s) + 10)
	}
	f.Fuzz(func(t *testing.T, v string, widget bool) {
		if !cspWithinLimits([]string{v}) {
			return
		}
		a := plain
		if widget {
			a = full
		}
		out := rewriteCSPList(v, a)
		if max := 7*len(v) + maxCSPPolicies*perPolicy; len(out) > max {
			t.Fatalf("%d bytes became %d (bound %d):\n in %q\nout %q", len(v), len(out), max, v, out)
		}
		nonce := "'nonce-" + a.nonce + "'"
		in, got := parseCSPList(v), parseCSPList(out)
		if len(got) != len(in) {
			t.Fatalf("%d policies became %d:\n in %q\nout %q", len(in), len(got), v, out)
		}
		for j, p := range in {
			q := got[j]
			if len(q) < len(p) {
				t.Fatalf("directives removed:\n in %q\nout %q", p, q)
			}
			for k, d := range q {
				var had []string
				if k < len(p) {
					if d.name != p[k].name {
						t.Fatalf("directive %d renamed %q → %q:\n in %q\nout %q", k, p[k].name, d.name, v, out)
					}
					had = p[k].sources
				}
				for _, s := range had {
					if !slices.Contains(d.sources, s) && !(strings.EqualFold(s, "'none'") && len(d.sources) > 0) {
						t.Fatalf("%s lost %q:\n in %q\nout %q", d.name, s, v, out)
					}
				}
				added := countOf(d.sources, nonce) > countOf(had, nonce)
				if added && d.name != "script-src" && d.name != "script-src-elem" && d.name != "default-src" {
					t.Fatalf("nonce added to %s:\n in %q\nout %q", d.name, v, out)
				}
			}
			eff := q.index("script-src-elem")
			if eff < 0 {
				eff = q.index("script-src")
			}
			if eff < 0 {
				eff = q.index("default-src")
			}
			if eff >= 0 && !slices.Contains(q[eff].sources, nonce) && !containsFold(q[eff].sources, "'unsafe-inline'") {
				t.Fatalf("%s does not admit our scripts:\n in %q\nout %q", q[eff].name, v, out)
			}
		}
	})
}

func countOf(list []string, v string) int {
	n := 0
	for _, s := range list {
		if s == v {
			n++
		}
	}
	return n
}

// The loader tag with widget.fallback_src carries Microsoft's onerror
// fallback, and the policy admits exactly that handler by its hash.
func TestWidgetFallbackHandlerAllowedByHash(t *testing.T) {
	inj, _ := testInjector(t, widgetOptions)
	h := http.Header{"Content-Type": {"text/html"}, "Content-Security-Policy": {"default-src 'none'; script-src 'nonce-site'"}}
	resp, out := run(t, inj, response{header: h, body: []byte("<head></head><body></body>")})
	m := regexp.MustCompile(`onerror="([^"]*)"`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no onerror on the loader tag: %s", out)
	}
	handler := html.UnescapeString(string(m[1]))
	if !strings.Contains(handler, "s.src='https://x.blob.core.windows.net/lcw/LiveChatBootstrapper.js'") || !strings.Contains(handler, "s.nonce=this.nonce") {
		t.Errorf("handler %q does not load the fallback with the tag's nonce", handler)
	}
	sum := sha256.Sum256([]byte(handler))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "'unsafe-hashes' "+hash) || !strings.Contains(csp, "https://x.blob.core.windows.net") {
		t.Errorf("policy %q does not admit the handler (%s) and the fallback host", csp, hash)
	}
}
