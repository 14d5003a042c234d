package inject

import (
	"html"
	"net/url"
	"slices"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// widgetID is the element id of Omnichannel's widget loader; the widget finds
// its configuration through it, so a page can carry it only once.
const widgetID = "Microsoft_Omnichannel_LCWidget"

// tags renders the injected markup. The parts around the nonce are rendered
// once in New; a response only adds its nonce.
type tags struct {
	bootstrapOpen string // `<script src="…" defer`
	widgetOpen    string // `<script id=… src=… data-… onerror=…` or ""
	// handlerHash is the CSP hash source ('sha256-…') of the widget tag's
	// onerror handler, or "" without widget.fallback_src.
	handlerHash string
}

func newTags(bootstrapPath, version string, w config.Widget) tags {
	src := bootstrapPath
	if version != "" {
		src += "?v=" + url.QueryEscape(version)
	}
	t := tags{bootstrapOpen: `<script src="` + html.EscapeString(src) + `" defer`}
	if w.Src == "" {
		return t
	}
	var b strings.Builder
	b.WriteString(`<script id="` + widgetID + `"`)
	attr := func(k, v string) {
		b.WriteString(" " + k + `="` + html.EscapeString(v) + `"`)
	}
	attr("src", w.Src)
	attr("data-app-id", w.AppID)
	attr("data-lcw-version", w.LCWVersion)
	attr("data-org-id", w.OrgID)
	attr("data-org-url", w.OrgURL)
	names := make([]string, 0, len(w.Attributes))
	for k := range w.Attributes {
		names = append(names, k)
	}
	slices.Sort(names) // deterministic markup, so caches and tests see one form
	for _, k := range names {
		switch strings.ToLower(k) {
		case "id", "src", "data-app-id", "data-lcw-version", "data-org-id", "data-org-url", "nonce", "onerror":
			continue // the named settings win over free-form attributes
		}
		attr(html.EscapeString(strings.ToLower(k)), w.Attributes[k])
	}
	if w.FallbackSrc != "" {
		h := fallbackHandler(w.FallbackSrc)
		attr("onerror", h)
		t.handlerHash = config.CSPHashSource(h)
	}
	t.widgetOpen = b.String()
	return t
}

// fallbackHandler is the loader tag's onerror handler, as in Microsoft's
// embed code: when the CDN copy fails, it puts a copy of the tag (same id
// and data-*, the same nonce) that loads src instead. Its text is the
// same for every response, so a policy can allow it by hash; src is
// validated (config: no quotes, backslashes or angle brackets) to sit in a
// JavaScript string.
func fallbackHandler(src string) string {
	return "var s=document.createElement('script'),a=this.attributes;" +
		"for(var i=0;i<a.length;i++){var n=a[i].name;if(n!=='src'&&n!=='onerror'&&n!=='nonce')s.setAttribute(n,a[i].value)}" +
		"s.nonce=this.nonce;s.src='" + src + "';this.remove();document.body.appendChild(s)"
}

// render returns the bootstrap tag; nonce is empty when no policy asks for one.
func (t tags) render(nonce string) []byte {
	return t.open(t.bootstrapOpen, nonce)
}

// widget returns the widget loader tag, or nil when none is configured.
func (t tags) widget(nonce string) []byte {
	if t.widgetOpen == "" {
		return nil
	}
	return t.open(t.widgetOpen, nonce)
}

func (t tags) open(open, nonce string) []byte {
	out := make([]byte, 0, len(open)+len(nonce)+20)
	out = append(out, open...)
	if nonce != "" {
		out = append(out, ` nonce="`...)
		out = append(out, nonce...)
		out = append(out, '"')
	}
	return append(out, "></script>"...)
}
