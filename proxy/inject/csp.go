package inject

import (
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// This file adjusts Content-Security-Policy values so the injected tags are
// allowed while every other restriction stays as the site wrote it.
// Policies follow CSP Level 3: a header value is a comma-separated list of
// policies, a policy is a semicolon-separated list of directives, and a
// directive is a name, lower-cased, followed by sources separated by ASCII
// whitespace.

// maxCSPPolicies and maxCSPBytes bound the policy text rewritten for one
// response: the CSP header lines together, and the CSP <meta> tags together.
// Past either limit the page passes through untouched (no tags, no nonce,
// counted as skipped_csp_too_large), because the work and the sources we
// add grow with every policy and the upstream decides how many there are:
// unbounded, a header of many tiny policies multiplied the process's memory
// and many <meta> policies multiplied a page's size. Real sites send one
// enforced policy, at times a report-only one beside it, and a few more at
// most where several layers (app, CDN, WAF) add their own; the longest
// real policies (large host allow-lists) stay well under 64 KiB, and nginx
// in front of a site already refuses an upstream header section larger than
// proxy_buffer_size (4 or 8 KiB by default). Within the limits the output
// is at most about seven times the input (default-src copied into each of
// the six directives the widget needs) plus our few sources per policy.
const (
	maxCSPPolicies = 16
	maxCSPBytes    = 64 << 10
)

// cspWithinLimits reports whether the policy texts in lists (header values,
// or the content of <meta> tags) are few and small enough to rewrite: at
// most maxCSPPolicies non-empty policies in at most as many header lines or
// tags, of at most maxCSPBytes in all.
func cspWithinLimits(lists ...[]string) bool {
	lines, size := 0, 0
	for _, l := range lists {
		lines += len(l)
		for _, v := range l {
			size += len(v)
		}
	}
	if lines > maxCSPPolicies || size > maxCSPBytes {
		return false
	}
	policies := 0
	for _, l := range lists {
		for _, v := range l {
			for part := range strings.SplitSeq(v, ",") {
				if len(parseCSP(part)) > 0 {
					policies++
				}
			}
		}
	}
	return policies <= maxCSPPolicies
}

// rewriteCSPList returns the header value or <meta> content v with every
// policy in it opened for a. Callers check cspWithinLimits first.
func rewriteCSPList(v string, a cspAllowance) string {
	list := parseCSPList(v)
	for j, p := range list {
		list[j] = p.allow(a)
	}
	return formatCSPList(list)
}

// cspDirective is one directive of a policy.
type cspDirective struct {
	name    string
	sources []string
}

// cspPolicy is one parsed policy, directives in their original order.
type cspPolicy []cspDirective

// parseCSPList splits a header value into its policies (CSP3 §2.2.2).
func parseCSPList(v string) []cspPolicy {
	var list []cspPolicy
	for part := range strings.SplitSeq(v, ",") {
		if p := parseCSP(part); len(p) > 0 {
			list = append(list, p)
		}
	}
	return list
}

// parseCSP parses one serialized policy. Empty directives are dropped; a
// repeated directive name is kept (browsers ignore it) so serializing keeps it.
func parseCSP(s string) cspPolicy {
	var p cspPolicy
	for raw := range strings.SplitSeq(s, ";") {
		fields := strings.FieldsFunc(raw, isASCIISpace)
		if len(fields) == 0 {
			continue
		}
		p = append(p, cspDirective{name: asciiLower(fields[0]), sources: fields[1:]})
	}
	return p
}

// isASCIISpace is CSP's whitespace (WHATWG "ASCII whitespace"). Browsers
// split at nothing else: with strings.Fields, "script-src\u00a0https://evil"
// (an unknown directive to a browser) would become a script-src we enforce
// in place of the site's default-src.
func isASCIISpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r'
}

// asciiLower lower-cases A-Z only, as browsers do with directive names;
// strings.ToLower would read "SCR\u0130PT-SRC" as script-src.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// String serializes the policy in the canonical "a x y; b z" form.
func (p cspPolicy) String() string {
	var b strings.Builder
	for i, d := range p {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.name)
		for _, s := range d.sources {
			b.WriteByte(' ')
			b.WriteString(s)
		}
	}
	return b.String()
}

func formatCSPList(list []cspPolicy) string {
	parts := make([]string, len(list))
	for i, p := range list {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}

// index returns the position of the first directive called name (the only
// one a browser enforces), or -1.
func (p cspPolicy) index(name string) int {
	for i, d := range p {
		if d.name == name {
			return i
		}
	}
	return -1
}

// effectiveHas reports whether the first of names that p has holds source.
func (p cspPolicy) effectiveHas(source string, names ...string) bool {
	for _, n := range names {
		if i := p.index(n); i >= 0 {
			return containsFold(p[i].sources, source)
		}
	}
	return false
}

// cspAllowance is what the injected tags need from a policy.
type cspAllowance struct {
	// nonce is carried by the injected <script> tags.
	nonce string
	// bootstrapSource is a path-exact source for bootstrap.js
	// ("https://shop.example/_lcw/bootstrap.js"), used where a nonce would
	// disable the site's 'unsafe-inline'. Empty when the public origin is unknown.
	bootstrapSource string
	// ownConnect is the source our script fetches from ("https://shop.example/_lcw/").
	ownConnect string
	// widget are the widget's sources per directive (allow_widget).
	widget config.WidgetSources
	// handlerHashes are the hashes ('sha256-…') of the inline event
	// handlers our tags carry (the widget loader's onerror fallback); they
	// need 'unsafe-hashes', which admits exactly those handlers.
	handlerHashes []string
}

// allow returns a copy of p that permits the injected tags. Only the
// directives that govern them change, and only by adding our nonce, the
// hashes of our handlers or our exact sources; 'unsafe-inline' is never
// added and nothing is removed except a lone 'none', which is replaced by
// what we add.
func (p cspPolicy) allow(a cspAllowance) cspPolicy {
	out := make(cspPolicy, len(p))
	for i, d := range p {
		out[i] = cspDirective{name: d.name, sources: append([]string(nil), d.sources...)}
	}

	elem, script, def := out.index("script-src-elem"), out.index("script-src"), out.index("default-src")
	var targets []int
	switch {
	case elem >= 0 || script >= 0:
		for _, i := range []int{elem, script} {
			if i >= 0 {
				targets = append(targets, i)
			}
		}
	case def >= 0 && (len(a.widget.Script) > 0 || len(a.handlerHashes) > 0):
		// Adding the widget's host to default-src would open images, styles,
		// frames and fonts to it too, and a handler hash there would count
		// for style attributes; a script-src copied from default-src is the
		// same policy for everything else.
		out = append(out, cspDirective{name: "script-src", sources: append([]string(nil), p[def].sources...)})
		targets = append(targets, len(out)-1)
	case def >= 0:
		// A nonce only matches elements carrying it, so in default-src it
		// allows our scripts and nothing else.
		targets = append(targets, def)
	}
	for _, i := range targets {
		out[i].sources = allowScript(out[i].sources, a)
	}
	if len(a.handlerHashes) > 0 {
		// Event handlers are checked against script-src-attr, then
		// script-src, then default-src: with only script-src-elem beside
		// default-src, our handler needs a script-src-attr of its own.
		if attr := out.index("script-src-attr"); attr >= 0 {
			out[attr].sources = allowHandlers(out[attr].sources, a.handlerHashes)
		} else if script < 0 && elem >= 0 && def >= 0 {
			out = append(out, cspDirective{name: "script-src-attr", sources: allowHandlers(append([]string(nil), p[def].sources...), a.handlerHashes)})
		}
	}

	connect := a.widget.Connect
	if a.ownConnect != "" && !p.effectiveHas("'self'", "connect-src", "default-src") {
		// 'self' covers our own endpoint already.
		connect = append([]string{a.ownConnect}, connect...)
	}
	out = out.allowFetch(p, "connect-src", connect)
	a.widget.Each(func(directive string, sources []string) {
		if directive != "script-src" && directive != "connect-src" { // above, with our own sources
			out = out.allowFetch(p, directive, sources)
		}
	})
	return out
}

// allowFetch adds sources to the directive called name, when the policy has
// it; otherwise, when a fallback directive (config.EffectiveDirectives)
// governs those requests and lacks
// some of the sources, it adds a directive called name copied from the
// site's fallback (not our edited one) plus the sources, so what else the
// fallback governs stays as the site wrote it.
func (out cspPolicy) allowFetch(orig cspPolicy, name string, sources []string) cspPolicy {
	if len(sources) == 0 {
		return out
	}
	if i := out.index(name); i >= 0 {
		out[i].sources = allowSources(out[i].sources, sources)
		return out
	}
	for _, f := range config.EffectiveDirectives(name)[1:] {
		if j := orig.index(f); j >= 0 {
			if needsSources(orig[j].sources, sources) {
				out = append(out, cspDirective{name: name, sources: allowSources(append([]string(nil), orig[j].sources...), sources)})
			}
			return out
		}
	}
	return out
}

// allowScript adds what the injected scripts need to one script directive.
func allowScript(src []string, a cspAllowance) []string {
	var strictDynamic, unsafeInline, nonceOrHash, self, star bool
	for _, s := range src {
		switch l := strings.ToLower(s); {
		case l == "'strict-dynamic'":
			strictDynamic = true
		case l == "'unsafe-inline'":
			unsafeInline = true
		case strings.HasPrefix(l, "'nonce-") || strings.HasPrefix(l, "'sha256-") || strings.HasPrefix(l, "'sha384-") || strings.HasPrefix(l, "'sha512-"):
			nonceOrHash = true
		case l == "'self'":
			self = true
		case l == "*":
			star = true
		}
	}
	src = dropNone(src)
	switch {
	case strictDynamic:
		// Host sources are ignored under 'strict-dynamic'; the nonce is what
		// counts, and the scripts it admits may load the rest of the widget.
		return appendHandlers(append(src, "'nonce-"+a.nonce+"'"), a.handlerHashes)
	case unsafeInline && !nonceOrHash:
		// A nonce here would switch off the site's own inline scripts
		// (CSP2+ ignores 'unsafe-inline' once a nonce is present), so name
		// our script by its exact URL instead; our handlers run already.
		if !self && !star && a.bootstrapSource != "" {
			src = append(src, a.bootstrapSource)
		}
	default:
		src = appendHandlers(append(src, "'nonce-"+a.nonce+"'"), a.handlerHashes)
	}
	return appendMissing(src, a.widget.Script)
}

// allowHandlers adds our handlers' hashes to script-src-attr, unless its
// 'unsafe-inline' lets them run already (a hash would switch it off).
func allowHandlers(src, hashes []string) []string {
	inline, hashed := false, false
	for _, s := range src {
		l := strings.ToLower(s)
		inline = inline || l == "'unsafe-inline'"
		hashed = hashed || strings.HasPrefix(l, "'sha") || strings.HasPrefix(l, "'nonce-")
	}
	if inline && !hashed {
		return src
	}
	return appendHandlers(dropNone(src), hashes)
}

func appendHandlers(src, hashes []string) []string {
	if len(hashes) == 0 {
		return src
	}
	return appendMissing(appendMissing(src, []string{"'unsafe-hashes'"}), hashes)
}

// allowSources adds to src those of sources it does not cover yet.
func allowSources(src []string, sources []string) []string {
	if !needsSources(src, sources) {
		return src
	}
	out := dropNone(src)
	for _, h := range sources {
		if !covered(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// needsSources reports whether src lacks any of sources. 'self' already
// covers our own endpoint, * covers every network host (not data: or
// blob:), and a scheme source such as https: every host of its scheme.
func needsSources(src []string, sources []string) bool {
	for _, h := range sources {
		if !covered(src, h) {
			return true
		}
	}
	return false
}

func covered(src []string, h string) bool {
	if containsFold(src, h) {
		return true
	}
	scheme, _, hostSource := strings.Cut(h, "://")
	if !hostSource {
		return false // data:, blob: only by name
	}
	return containsFold(src, "*") || containsFold(src, scheme+":")
}

// dropNone removes 'none', which is only valid alone and would otherwise
// make the directive invalid once something is added to it.
func dropNone(src []string) []string {
	out := make([]string, 0, len(src)+2)
	for _, s := range src {
		if !strings.EqualFold(s, "'none'") {
			out = append(out, s)
		}
	}
	return out
}

func appendMissing(src, add []string) []string {
	for _, h := range add {
		if !containsFold(src, h) {
			src = append(src, h)
		}
	}
	return src
}

func containsFold(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}
