package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"golang.org/x/net/html"
)

// widgetID is the id of Microsoft's widget loader tag.
const widgetID = "Microsoft_Omnichannel_LCWidget"

// defaultWidgetSrc is the loader in Microsoft's embed code, used for the
// CSP check when --widget asks for a widget the page does not carry.
const defaultWidgetSrc = "https://oc-cdn-ocprod.azureedge.net/livechatwidget/scripts/LiveChatBootstrapper.js"

// scriptTag is a <script> element of the page.
type scriptTag struct {
	src   *url.URL
	attrs map[string]string
}

// pageTags is what the doctor reads from a page.
type pageTags struct {
	bootstrap []scriptTag
	widget    *scriptTag
	metaCSP   []string
}

// checkPage loads the page as a browser navigation would and checks its
// tags and its Content-Security-Policy.
func (c *check) checkPage(ctx context.Context) {
	resp, body, ok := c.fetchPage(ctx)
	if !ok {
		return
	}
	tags := scanPage(body, resp.Request.URL, c.opt.Prefix)
	c.checkBootstrapTag(ctx, tags)
	c.checkWidgetTag(tags)
	c.checkCSP(resp, tags)
}

// fetchPage GETs the page with a navigation's headers (and the cookie, if
// any), following redirects within the site. A sign-in redirect is not a
// fault: the page checks then need --cookie.
func (c *check) fetchPage(ctx context.Context) (*http.Response, []byte, bool) {
	hdr := map[string]string{
		"Accept":         "text/html,application/xhtml+xml",
		"Sec-Fetch-Dest": "document",
		"Sec-Fetch-Mode": "navigate",
		"Sec-Fetch-Site": "none",
	}
	if c.opt.Cookie != "" {
		hdr["Cookie"] = c.opt.Cookie
	}
	target := c.page.String()
	for range 5 {
		resp, body, err := c.get(ctx, http.MethodGet, target, hdr)
		if err != nil {
			c.add(Error, "page", fmt.Sprintf("%s: %v", target, err), "check the URL and that the site is up")
			return nil, nil, false
		}
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			if resp.StatusCode != http.StatusOK {
				c.add(Error, "page", fmt.Sprintf("%s answers %s", target, resp.Status), "give a page that loads (the one that should offer the chat)")
				return nil, nil, false
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "text/html") {
				c.add(Error, "page", fmt.Sprintf("%s is %q, not an HTML page", target, ct), "give an HTML page of the site: only text/html gets the bootstrap tag")
				return nil, nil, false
			}
			return resp, body, true
		}
		next, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			c.add(Error, "page", fmt.Sprintf("%s redirects to an unreadable Location %q", target, resp.Header.Get("Location")), "fix the site's redirect")
			return nil, nil, false
		}
		if next.Scheme+"://"+next.Host != c.origin || strings.HasPrefix(next.Path, c.opt.Prefix+"/login") {
			fix := "pass --cookie (or --cookie-file) of a signed-in session to check the page"
			if c.opt.Cookie != "" {
				fix = "the cookie is not a signed-in session (or has expired): sign in again and copy it"
			}
			c.add(Skip, "page", fmt.Sprintf("%s needs a sign-in (redirects to %s): tags and CSP not checked", c.page, next.Redacted()), fix)
			return nil, nil, false
		}
		target = next.String()
	}
	c.add(Error, "page", fmt.Sprintf("%s redirects too often", c.page), "fix the site's redirects")
	return nil, nil, false
}

// scanPage collects the script tags and CSP <meta> tags of an HTML page.
func scanPage(body []byte, page *url.URL, prefix string) pageTags {
	var t pageTags
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return t
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		attrs := map[string]string{}
		for hasAttr {
			var k, v []byte
			k, v, hasAttr = z.TagAttr()
			if _, dup := attrs[string(k)]; !dup {
				attrs[string(k)] = string(v)
			}
		}
		switch string(name) {
		case "meta":
			if strings.EqualFold(attrs["http-equiv"], "content-security-policy") {
				t.metaCSP = append(t.metaCSP, attrs["content"])
			}
		case "script":
			src, err := page.Parse(attrs["src"])
			if attrs["src"] == "" || err != nil {
				continue
			}
			tag := scriptTag{src: src, attrs: attrs}
			if attrs["id"] == widgetID && t.widget == nil {
				t.widget = &tag
			}
			if src.Host == page.Host && src.Path == prefix+"/bootstrap.js" {
				t.bootstrap = append(t.bootstrap, tag)
			}
		}
	}
}

// scriptConfig finds the configuration bootstrap.js embeds, for the name
// of the client function it defines.
var scriptConfig = regexp.MustCompile(`var cfg = (\{.*?\});`)

func (c *check) checkBootstrapTag(ctx context.Context, t pageTags) {
	want := fmt.Sprintf(`<script src="%s/bootstrap.js" defer></script>`, c.opt.Prefix)
	switch len(t.bootstrap) {
	case 0:
		c.add(Error, "page", c.page.String()+" carries no bootstrap tag: the widget finds no client function (lcw:error 8)",
			"set inject.enabled: true (and check inject.exclude_paths and signed_in_only), or add "+want+" before </head>")
		return
	case 1:
	default:
		c.add(Warn, "page", fmt.Sprintf("%s carries %d bootstrap tags", c.page, len(t.bootstrap)), "keep one: the site's own tag or the proxy's injection, not both")
	}
	src := t.bootstrap[0].src.String()
	resp, body, err := c.get(ctx, http.MethodGet, src, nil)
	switch {
	case err != nil:
		c.add(Error, "page", fmt.Sprintf("bootstrap.js: %v", err), "check that the proxy serves "+c.opt.Prefix+"/bootstrap.js")
		return
	case resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript"):
		c.add(Error, "page", fmt.Sprintf("%s answers %s (%s)", src, resp.Status, resp.Header.Get("Content-Type")), "check that the proxy serves "+c.opt.Prefix+"/bootstrap.js (and --prefix)")
		return
	}
	fn := ""
	if m := scriptConfig.FindSubmatch(body); m != nil {
		var cfg struct {
			Fn []string `json:"fn"`
		}
		if json.Unmarshal(m[1], &cfg) == nil {
			fn = strings.Join(cfg.Fn, ".")
		}
	}
	if fn == "" {
		c.ok("page", "the page loads %s", src)
		return
	}
	c.ok("page", "the page loads bootstrap.js, which defines %s: enter it as the chat authentication setting's JavaScript client function", fn)
}

func (c *check) checkWidgetTag(t pageTags) {
	if t.widget == nil {
		if c.opt.Widget {
			c.add(Error, "page", c.page.String()+" carries no widget loader tag (script#"+widgetID+")",
				"set inject.widget (src, app_id, org_id, org_url from the widget's embed code), or paste the embed code into the page")
		} else {
			c.add(Skip, "page", "no widget loader tag on the page (the site may add it later): widget not checked", "pass --widget to require it")
		}
		return
	}
	var missing []string
	for _, a := range []string{"data-app-id", "data-org-id", "data-org-url"} {
		if strings.TrimSpace(t.widget.attrs[a]) == "" {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		c.add(Error, "page", "the widget loader tag lacks "+strings.Join(missing, ", "), "copy them from the widget's embed code (inject.widget.app_id, org_id, org_url)")
		return
	}
	if t.widget.src.Scheme != "https" {
		c.add(Warn, "page", "the widget loader is not loaded over https: "+t.widget.src.String(), "use the https URL from the widget's embed code")
		return
	}
	c.ok("page", "widget loader %s for org %s (%s), app %s", t.widget.src, t.widget.attrs["data-org-id"], t.widget.attrs["data-org-url"], t.widget.attrs["data-app-id"])
}

// checkCSP evaluates every enforced policy (headers and <meta>) for the
// bootstrap, its token endpoint and, when the widget is in play, every
// source the widget needs (config.WidgetCSP, per directive). A request is
// allowed only if every policy allows it, so each policy is checked on its
// own and named in the finding. Report-only policies block nothing; they
// get a warning of what they will report.
func (c *check) checkCSP(resp *http.Response, t pageTags) {
	header := resp.Header.Values("Content-Security-Policy")
	var policies []namedPolicy
	for i, p := range parseCSP(header) {
		policies = append(policies, namedPolicy{p, fmt.Sprintf("header policy %d", i+1)})
	}
	for i, p := range parseCSP(t.metaCSP) {
		policies = append(policies, namedPolicy{p, fmt.Sprintf("<meta> policy %d", i+1)})
	}
	if len(policies) == 0 {
		c.ok("csp", "the page sends no Content-Security-Policy: nothing blocks the bootstrap or the widget")
	}
	page := resp.Request.URL
	if len(t.bootstrap) > 0 && len(policies) > 0 {
		tag := t.bootstrap[0]
		tokenURL, _ := url.Parse(c.endpoint("token"))
		script := blockedBy(policies, func(p cspPolicy) bool { return p.allowsScript(tag.src, tag.attrs["nonce"], page) })
		connect := blockedBy(policies, func(p cspPolicy) bool { return p.allowsConnect(tokenURL, page) })
		switch {
		case script != "":
			c.add(Error, "csp", "the page's Content-Security-Policy blocks bootstrap.js ("+script+")", "let the proxy inject it (it adds a nonce to the page's policy), or allow "+tag.src.String()+" in script-src")
		case connect != "":
			c.add(Error, "csp", "the page's Content-Security-Policy blocks the token endpoint "+tokenURL.String()+" ("+connect+")", "add 'self' (or "+c.origin+c.opt.Prefix+"/) to connect-src")
		default:
			c.ok("csp", "the page's Content-Security-Policy allows bootstrap.js and %s/token", c.opt.Prefix)
		}
	}
	if t.widget == nil && !c.opt.Widget {
		return
	}
	w := config.Widget{Src: defaultWidgetSrc}
	nonce := ""
	if t.widget != nil {
		w.Src, w.OrgURL, nonce = t.widget.src.String(), t.widget.attrs["data-org-url"], t.widget.attrs["nonce"]
	}
	if len(policies) > 0 {
		c.checkWidgetCSP(policies, page, w, nonce)
		if t.widget != nil && t.widget.attrs["onerror"] != "" {
			if by := blockedBy(policies, func(p cspPolicy) bool { return p.allowsHandler(t.widget.attrs["onerror"]) }); by != "" {
				c.add(Warn, "csp", "the widget loader's onerror fallback cannot run ("+by+" allows no inline handler by 'unsafe-hashes' and its hash): when the CDN fails the widget does not load",
					"let the proxy inject the tag with inject.widget.fallback_src (it adds the handler's hash), or allow the handler's hash with 'unsafe-hashes' in script-src")
			}
		}
	}
	c.checkReportOnly(resp.Header.Values("Content-Security-Policy-Report-Only"), page, w, nonce)
}

// namedPolicy is one enforced policy and where it came from.
type namedPolicy struct {
	cspPolicy
	name string
}

// blockedBy names the policies that do not allow a request, or "".
func blockedBy(policies []namedPolicy, allows func(cspPolicy) bool) string {
	var names []string
	for _, p := range policies {
		if !allows(p.cspPolicy) {
			names = append(names, p.name)
		}
	}
	return strings.Join(names, ", ")
}

// widgetBlocked lists, as "directive source (policy…)", what of the
// widget's sources policies block: the loader (nonce) and the scripts it
// inserts, then every other directive's sources.
func widgetBlocked(policies []namedPolicy, page *url.URL, w config.Widget, nonce string) (blocked, fixes []string) {
	loader, _ := url.Parse(w.Src)
	inserted := loader.ResolveReference(&url.URL{Path: "widget-part.js"})
	if by := blockedBy(policies, func(p cspPolicy) bool {
		return p.allowsScript(loader, nonce, page) && p.allowsInserted(inserted, page, p.allowsScript(loader, nonce, page))
	}); by != "" {
		src := loader.Scheme + "://" + loader.Host
		blocked = append(blocked, "script-src "+src+" ("+by+")")
		fixes = append(fixes, "script-src "+src)
	}
	orgHost := ""
	if u, err := url.Parse(w.OrgURL); err == nil {
		orgHost = u.Hostname()
	}
	config.WidgetCSP(w, nil).Each(func(directive string, sources []string) {
		if directive == "script-src" {
			return // the loader above; Web Chat's CDN path is not loaded by every widget
		}
		for _, src := range sources {
			u, err := url.Parse(probeURL(src, orgHost))
			if err != nil {
				continue
			}
			if by := blockedBy(policies, func(p cspPolicy) bool { return p.allowsFetch(directive, u, page) }); by != "" {
				blocked = append(blocked, directive+" "+src+" ("+by+")")
				fixes = append(fixes, directive+" "+src)
			}
		}
	})
	return blocked, fixes
}

// probeURL is a URL that src matches: a wildcard host gets a made-up
// subdomain (the widget's org host for Omnichannel's domain), a scheme
// source a URL of that scheme.
func probeURL(src, orgHost string) string {
	if strings.HasSuffix(src, ":") {
		return src + "probe"
	}
	if i := strings.Index(src, "*."); i >= 0 && orgHost != "" && strings.HasSuffix(orgHost, src[i+1:]) {
		return src[:i] + orgHost
	}
	return strings.Replace(src, "*", "probe", 1)
}

// checkWidgetCSP reports every directive and source of the widget that an
// enforced policy blocks, with the fix.
func (c *check) checkWidgetCSP(policies []namedPolicy, page *url.URL, w config.Widget, nonce string) {
	blocked, fixes := widgetBlocked(policies, page, w, nonce)
	if len(blocked) > 0 {
		c.add(Error, "csp", "the page's Content-Security-Policy blocks the widget: "+strings.Join(blocked, "; "),
			"set inject.csp.allow_widget: true (the proxy then adds these sources to every policy of the page), or add them to the site's policy: "+strings.Join(fixes, "; "))
	} else {
		c.ok("csp", "the page's Content-Security-Policy allows the widget loader and every source it needs (script, connect, frame, img, media, font)")
	}
	if by := blockedBy(policies, cspPolicy.allowsInlineStyle); by != "" {
		c.add(Warn, "csp", config.WidgetStyleNote+"; "+by+" blocks them, so the widget may render unstyled",
			"add 'unsafe-inline' to style-src if the widget looks broken (the proxy never adds it)")
	}
}

// checkReportOnly warns about what a report-only policy will report once
// the widget runs: nothing is blocked, but a rollout to enforcement would.
func (c *check) checkReportOnly(values []string, page *url.URL, w config.Widget, nonce string) {
	var policies []namedPolicy
	for i, p := range parseCSP(values) {
		policies = append(policies, namedPolicy{p, fmt.Sprintf("report-only policy %d", i+1)})
	}
	if len(policies) == 0 {
		return
	}
	if blocked, fixes := widgetBlocked(policies, page, w, nonce); len(blocked) > 0 {
		c.add(Warn, "csp", "the page's Content-Security-Policy-Report-Only will report the widget (it blocks nothing yet): "+strings.Join(blocked, "; "),
			"before enforcing it, add: "+strings.Join(fixes, "; "))
	}
}
