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

	"github.com/lcw-auth-proxy/lcw-auth-proxy/proxy/inject"
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
// bootstrap, its token endpoint and, when the widget is in play, the
// widget's script and connections. Report-only policies block nothing.
func (c *check) checkCSP(resp *http.Response, t pageTags) {
	policies := parseCSP(append(resp.Header.Values("Content-Security-Policy"), t.metaCSP...))
	if len(policies) == 0 {
		c.ok("csp", "the page sends no Content-Security-Policy: nothing blocks the bootstrap or the widget")
		return
	}
	page := resp.Request.URL
	allScript := func(u *url.URL, nonce string) bool {
		for _, p := range policies {
			if !p.allowsScript(u, nonce, page) {
				return false
			}
		}
		return true
	}
	allConnect := func(u *url.URL) bool {
		for _, p := range policies {
			if !p.allowsConnect(u, page) {
				return false
			}
		}
		return true
	}
	if len(t.bootstrap) > 0 {
		tag := t.bootstrap[0]
		tokenURL, _ := url.Parse(c.endpoint("token"))
		switch {
		case !allScript(tag.src, tag.attrs["nonce"]):
			c.add(Error, "csp", "the page's Content-Security-Policy blocks bootstrap.js", "let the proxy inject it (it adds a nonce to the page's policy), or allow "+tag.src.String()+" in script-src")
		case !allConnect(tokenURL):
			c.add(Error, "csp", "the page's Content-Security-Policy blocks the token endpoint "+tokenURL.String(), "add 'self' (or "+c.origin+c.opt.Prefix+"/) to connect-src")
		default:
			c.ok("csp", "the page's Content-Security-Policy allows bootstrap.js and %s/token", c.opt.Prefix)
		}
	}
	if t.widget == nil && !c.opt.Widget {
		return
	}
	loader, _ := url.Parse(defaultWidgetSrc)
	nonce := ""
	orgHost := ""
	if t.widget != nil {
		loader, nonce = t.widget.src, t.widget.attrs["nonce"]
		if u, err := url.Parse(t.widget.attrs["data-org-url"]); err == nil {
			orgHost = u.Hostname()
		}
	}
	var blocked []string
	// The loader, then the scripts it adds from its CDN.
	more := loader.ResolveReference(&url.URL{Path: "widget-part.js"})
	scripts := allScript(loader, nonce)
	for _, p := range policies {
		scripts = scripts && p.allowsInserted(more, page, p.allowsScript(loader, nonce, page))
	}
	if !scripts {
		blocked = append(blocked, "script-src "+loader.Scheme+"://"+loader.Host)
	}
	for _, pattern := range inject.OmnichannelConnectHosts { // wildcards are checked with a made-up subdomain
		probe := strings.Replace(pattern, "*", "probe", 1)
		if orgHost != "" && strings.HasSuffix(pattern, "*.omnichannelengagementhub.com") {
			probe = strings.Replace(pattern, "*.omnichannelengagementhub.com", orgHost, 1)
		}
		if u, err := url.Parse(probe); err == nil && !allConnect(u) {
			blocked = append(blocked, "connect-src "+pattern)
		}
	}
	if len(blocked) > 0 {
		c.add(Error, "csp", "the page's Content-Security-Policy blocks the widget: "+strings.Join(blocked, ", "),
			"set inject.csp.allow_widget: true (the proxy then opens the policy for the widget), or add these sources to the site's policy")
		return
	}
	c.ok("csp", "the page's Content-Security-Policy allows the widget loader and its connections")
}
