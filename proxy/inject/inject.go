// Package inject adds the live chat bootstrap <script> (and, when configured,
// Omnichannel's widget loader) to HTML responses on their way through the
// reverse proxy. It streams: the body is read through a bounded look-ahead
// that finds the insertion point with a real HTML tokenizer, then copied on
// with pooled buffers, so memory stays flat for any page size.
package inject

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/html"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/bufpool"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure an Injector. The zero value of every field is a usable
// default except Paths.
type Options struct {
	// Paths are the proxy's endpoints; the bootstrap tag is
	// <script src="{Paths.Bootstrap}?v={BootstrapVersion}" defer>.
	Paths config.Paths
	// BootstrapVersion is bootstrap.js's content hash, for cache busting.
	BootstrapVersion string
	// Widget, when Src is set, adds Omnichannel's widget loader tag after
	// the page's last byte, unless the page carries the widget's id.
	Widget config.Widget
	// AllowWidgetCSP also opens a page's CSP to WidgetSources
	// (inject.csp.allow_widget).
	AllowWidgetCSP bool
	// WidgetSources are what the widget needs per directive
	// (config.WidgetCSP of the widget and inject.csp.widget_sources).
	WidgetSources config.WidgetSources
	// PublicOrigin ("https://shop.example") lets CSP name our own endpoints
	// exactly where a nonce cannot be used. Optional.
	PublicOrigin string
	// ExcludePaths are path prefixes never injected.
	ExcludePaths []string
	// SignedIn, when set, limits injection to the requests it accepts
	// (inject.signed_in_only: the visitor is signed in and authorized).
	SignedIn func(*http.Request) bool
	// Metrics, when set, counts responses by result.
	Metrics *metrics.Metrics
	// Logger receives aborted bodies; nil discards them.
	Logger *slog.Logger
}

// Injector rewrites HTML responses. It is safe for concurrent use.
type Injector struct {
	opt   Options
	log   *slog.Logger
	tags  tags
	allow cspAllowance // without nonce; filled per response

	codecs     codecs
	chunks     *bufpool.Pool
	lookaheads *bufpool.Pool
	pendings   pendingPool
	counters   map[string]prometheus.Counter // by result; nil without metrics
}

// New returns an Injector for o.
func New(o Options) *Injector {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	i := &Injector{
		opt: o, log: o.Logger, tags: newTags(o.Paths.Bootstrap, o.BootstrapVersion, o.Widget),
		chunks: bufpool.New(chunkSize), lookaheads: bufpool.New(lookahead),
	}
	if o.Metrics != nil {
		i.counters = make(map[string]prometheus.Counter, len(results))
		for _, r := range results {
			i.counters[r] = o.Metrics.Injections.WithLabelValues(r)
		}
	}
	if o.PublicOrigin != "" {
		origin := strings.TrimRight(o.PublicOrigin, "/")
		i.allow.bootstrapSource = origin + o.Paths.Bootstrap
		i.allow.ownConnect = origin + o.Paths.Prefix + "/"
	}
	if o.AllowWidgetCSP && o.Widget.Src != "" {
		i.allow.widget = o.WidgetSources
	}
	if h := i.tags.handlerHash; h != "" {
		i.allow.handlerHashes = []string{h}
	}
	return i
}

type clientAcceptKey struct{}

// PrepareRequest is called from ReverseProxy.Rewrite with the outgoing
// request. For requests that will likely be answered with an HTML page it
// asks the upstream for an uncompressed body, and remembers the client's
// Accept-Encoding so ModifyResponse compresses the injected page itself:
// compressing once costs less than decoding the upstream's compression and
// encoding again (BenchmarkEncodings compares the two), and the upstream
// saves its compression work too. Other requests (images, scripts,
// XHR) keep the client's Accept-Encoding and pass through untouched.
//
// The request's context is replaced in place (*out = *out.WithContext(…)),
// so the signature fits a Rewrite hook that only hands over pr.Out.
func (i *Injector) PrepareRequest(out *http.Request) {
	ae := out.Header["Accept-Encoding"] // canonical, as parsed (request.FirstValue)
	if len(ae) == 0 || !request.IsPageLoad(out) || out.Method == http.MethodHead ||
		out.Header.Get("Range") != "" || i.excluded(out.URL.Path) ||
		(i.opt.SignedIn != nil && !i.opt.SignedIn(out)) {
		return
	}
	if negotiate(ae, identity, true) == identity {
		return // the client takes nothing we can produce; let the upstream decide
	}
	ctx := context.WithValue(out.Context(), clientAcceptKey{}, ae)
	out.Header["Accept-Encoding"] = []string{"identity"}
	*out = *out.WithContext(ctx)
}

// ModifyResponse is an httputil.ReverseProxy ModifyResponse hook. Responses
// that qualify get a streaming body that carries the tags; all others pass
// through byte-identical.
func (i *Injector) ModifyResponse(resp *http.Response) error {
	if reason := i.skipReason(resp); reason != "" {
		i.count(reason)
		return nil
	}
	in := contentCoding(resp.Header)
	if in == codingUnknown {
		i.count("skipped_encoding")
		return nil
	}
	accept, compress := resp.Request.Header.Values("Accept-Encoding"), false
	if orig, ok := resp.Request.Context().Value(clientAcceptKey{}).([]string); ok {
		accept, compress = orig, true
	}
	out := negotiate(accept, in, compress)
	b := &body{inj: i, upstream: resp.Body, in: in, out: out, pend: i.pendings.get()}
	b.csp = len(resp.Header.Values(cspHeader)) > 0 || len(resp.Header.Values(cspReportOnlyHeader)) > 0
	upstreamLength := resp.ContentLength
	i.rewriteHeaders(resp, b)
	resp.Body = b
	// The look-ahead runs now, before the headers go out: the first body
	// bytes wait for it anyway, an upstream or decoding failure this early
	// can still become a clean 502, and the final length becomes known.
	b.scan()
	if b.done && !errors.Is(b.err, io.EOF) {
		return fmt.Errorf("inject into %s: %w", resp.Request.URL.Path, b.err)
	}
	if b.nonce != "" {
		// Only now is it known whether our tags went in; a page left alone
		// (already injected, too many <meta> policies) keeps its policy
		// and its caching.
		i.rewriteCSPHeaders(resp.Header, b.nonce)
		makePrivate(resp.Header)
	}
	if in == identity && out == identity && upstreamLength >= 0 && b.widgetTag == nil {
		// A known length lets ReverseProxy skip its per-write flush and
		// chunked framing, as it would for the page passed through. A
		// pending widget tag makes the length unknown until the last byte.
		n := upstreamLength - int64(b.consumed) + int64(b.pend.len()) + int64(len(b.appendTag))
		resp.ContentLength = n
		resp.Header.Set("Content-Length", strconv.FormatInt(n, 10))
		b.sized = true
	}
	return nil
}

// skipReason returns why resp must pass through untouched, as its metric
// label (skipped_…), or "".
func (i *Injector) skipReason(resp *http.Response) string {
	req := resp.Request
	switch {
	case req == nil:
		return "skipped_no_request"
	case req.Method == http.MethodHead || req.Method == http.MethodConnect:
		return "skipped_method"
	case resp.StatusCode < 200 || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusPartialContent || resp.StatusCode == http.StatusNotModified ||
		resp.StatusCode == http.StatusResetContent:
		return "skipped_status"
	case !isHTML(request.FirstValue(resp.Header, "Content-Type")):
		return "skipped_not_html"
	case resp.Body == nil || resp.Body == http.NoBody || resp.ContentLength == 0:
		return "skipped_empty"
	case req.Header.Get("Range") != "":
		return "skipped_range"
	case request.IsScripted(req):
		// An HTML fragment for fetch/XHR (htmx, Turbo frames, jQuery .load)
		// is swapped into a page that already has our tags; libraries that
		// run the scripts they swap in would load the widget again.
		return "skipped_not_document"
	case hasToken(resp.Header.Values("Connection"), "upgrade") || resp.Header.Get("Upgrade") != "":
		return "skipped_upgrade"
	case hasToken(resp.Header.Values("Cache-Control"), "no-transform"):
		return "skipped_no_transform"
	case isAttachment(resp.Header.Get("Content-Disposition")):
		return "skipped_attachment"
	case i.excluded(req.URL.Path):
		return "skipped_excluded"
	case i.opt.SignedIn != nil && !i.opt.SignedIn(req):
		return "skipped_signed_out"
	case !cspWithinLimits(resp.Header.Values(cspHeader), resp.Header.Values(cspReportOnlyHeader)):
		return "skipped_csp_too_large"
	}
	return ""
}

func (i *Injector) excluded(path string) bool {
	for _, p := range i.opt.ExcludePaths {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// rewriteHeaders fixes the headers for the rewritten body: length unknown,
// validators weak, coding as negotiated.
func (i *Injector) rewriteHeaders(resp *http.Response, b *body) {
	h := resp.Header
	h.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = false
	// Digests and byte ranges describe the upstream's bytes, not ours.
	h.Del("Content-Digest")
	h.Del("Repr-Digest")
	h.Del("Digest")
	h.Del("Content-MD5")
	h.Del("Accept-Ranges")
	if et := h.Get("Etag"); et != "" && !strings.HasPrefix(et, "W/") {
		h.Set("Etag", "W/"+et)
	}
	if b.out == identity {
		h.Del("Content-Encoding")
	} else {
		h.Set("Content-Encoding", b.out.name())
	}
	if !hasToken(h.Values("Vary"), "accept-encoding") && !hasToken(h.Values("Vary"), "*") {
		h.Add("Vary", "Accept-Encoding")
	}
}

const (
	cspHeader           = "Content-Security-Policy"
	cspReportOnlyHeader = "Content-Security-Policy-Report-Only"
)

// rewriteCSPHeaders opens the response's policies for tags carrying nonce;
// skipReason has held them to cspWithinLimits.
func (i *Injector) rewriteCSPHeaders(h http.Header, nonce string) {
	a := i.allow
	a.nonce = nonce
	for _, name := range []string{cspHeader, cspReportOnlyHeader} {
		vals := h.Values(name)
		if len(vals) == 0 {
			continue
		}
		next := make([]string, 0, len(vals))
		for _, v := range vals {
			if v = rewriteCSPList(v, a); v != "" {
				next = append(next, v)
			}
		}
		h[name] = next
	}
}

// rewriteMeta re-serializes a <meta http-equiv=Content-Security-Policy> tag
// with its policy opened for our tags. Browsers apply such a policy only to
// what follows it, and it sits in the look-ahead we hold anyway, so the tag
// can be rewritten before any of it reaches the client.
func (i *Injector) rewriteMeta(m metaCSP, nonce string) []byte {
	a := i.allow
	a.nonce = nonce
	attrs := make([]html.Attribute, len(m.attrs))
	copy(attrs, m.attrs)
	for j := range attrs {
		if attrs[j].Key == "content" {
			attrs[j].Val = rewriteCSPList(attrs[j].Val, a)
		}
	}
	tt := html.StartTagToken
	if m.selfClose {
		tt = html.SelfClosingTagToken
	}
	return []byte(html.Token{Type: tt, Data: "meta", Attr: attrs}.String())
}

// results are the injection results, resolved to their counters once:
// every response through the proxy is counted (most as skipped_not_html),
// and a label lookup per response is measurable on small ones.
var results = []string{"injected", "already", "error", "skipped_encoding", "skipped_charset", "skipped_csp_too_large",
	"skipped_no_request", "skipped_method", "skipped_status", "skipped_not_html", "skipped_empty", "skipped_range",
	"skipped_not_document", "skipped_upgrade", "skipped_no_transform", "skipped_attachment", "skipped_excluded",
	"skipped_signed_out"}

func (i *Injector) count(result string) {
	if c, ok := i.counters[result]; ok {
		c.Inc()
	} else if i.opt.Metrics != nil {
		i.opt.Metrics.Injections.WithLabelValues(result).Inc()
	}
}

// newNonce returns 128 bits from crypto/rand, base64url without padding.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// isHTML reports whether a Content-Type names text/html (parameters allowed).
func isHTML(ct string) bool {
	const t = "text/html"
	ct = strings.TrimLeft(ct, " \t")
	if len(ct) < len(t) || !strings.EqualFold(ct[:len(t)], t) {
		return false
	}
	rest := strings.TrimLeft(ct[len(t):], " \t")
	if rest != "" && rest[0] != ';' {
		return false
	}
	// Markup in ASCII bytes would corrupt UTF-16/32 pages.
	cs := strings.ToLower(rest)
	return !strings.Contains(cs, "utf-16") && !strings.Contains(cs, "utf-32")
}

func isAttachment(cd string) bool {
	v, _, _ := strings.Cut(cd, ";")
	return strings.EqualFold(strings.TrimSpace(v), "attachment")
}

// hasToken reports whether a comma-separated header list holds token
// (case-insensitively), ignoring parameters such as max-age=….
func hasToken(vals []string, token string) bool {
	for _, v := range vals {
		for part := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(part, "=")
			if strings.EqualFold(strings.TrimSpace(name), token) {
				return true
			}
		}
	}
	return false
}

// pendingPool lends output queues.
type pendingPool struct{ p sync.Pool }

func (pp *pendingPool) get() *pending {
	if v, ok := pp.p.Get().(*pending); ok {
		return v
	}
	return &pending{buf: make([]byte, 0, lookahead+4<<10)}
}

func (pp *pendingPool) put(p *pending) {
	if p == nil || cap(p.buf) > 4*lookahead {
		return
	}
	p.buf, p.off = p.buf[:0], 0
	pp.p.Put(p)
}

var _ io.ReadCloser = (*body)(nil)
