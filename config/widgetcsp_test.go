package config

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestWidgetCSPFollowsTheCloudOfOrgURL(t *testing.T) {
	for _, tc := range []struct {
		name, src, orgURL, cloud string
		want, notWant            []string // connect-src
	}{
		{"public", "https://oc-cdn-ocprod.azureedge.net/livechatwidget/scripts/LiveChatBootstrapper.js", "https://org1-crm.omnichannelengagementhub.com",
			"", []string{"https://oc-cdn-ocprod.azureedge.net", "https://*.omnichannelengagementhub.com", "wss://*.trouter.teams.microsoft.com", "https://ecs.office.com", "https://browser.pipe.aria.microsoft.com"},
			[]string{"https://*.omnichannelengagementhub.us", "https://eu-mobile.events.data.microsoft.com"}},
		{"public EU org: the EU telemetry collector", "https://oc-cdn-public-eur.azureedge.net/livechatwidget/scripts/LiveChatBootstrapper.js", "https://org1-crm4.omnichannelengagementhub.com",
			"", []string{"https://oc-cdn-public-eur.azureedge.net", "https://eu-mobile.events.data.microsoft.com"}, nil},
		{"GCC by the .us domain", "https://ocprodocprodnamgs.blob.core.usgovcloudapi.net/livechatwidget/scripts/LiveChatBootstrapper.js", "https://m-1.gov.omnichannelengagementhub.us",
			"", []string{"https://ocprodocprodnamgs.blob.core.usgovcloudapi.net", "https://*.omnichannelengagementhub.us", "wss://*.communication.azure.us", "https://tb.pipe.aria.microsoft.com"},
			[]string{"https://*.omnichannelengagementhub.com", "https://*.communication.azure.com", "https://ecs.office.com"}},
		{"GCC by the crm9 geo", "https://ocprodocprodnamgs.blob.core.usgovcloudapi.net/x.js", "https://org1-crm9.omnichannelengagementhub.com",
			"", []string{"https://*.communication.azure.us"}, []string{"https://*.communication.azure.com"}},
		{"cloud set in config wins", "https://cdn.example/x.js", "https://org1-crm.omnichannelengagementhub.com",
			CloudUSGov, []string{"https://*.omnichannelengagementhub.us"}, []string{"https://*.omnichannelengagementhub.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := WidgetCSP(Widget{Src: tc.src, OrgURL: tc.orgURL, Cloud: tc.cloud}, nil)
			for _, w := range tc.want {
				if !slices.Contains(s.Connect, w) {
					t.Errorf("connect-src %q lacks %s", s.Connect, w)
				}
			}
			for _, w := range tc.notWant {
				if slices.Contains(s.Connect, w) {
					t.Errorf("connect-src %q has %s", s.Connect, w)
				}
			}
			cdn := s.Connect[0]
			if s.Script[0] != cdn || s.Frame[0] != cdn || s.Img[0] != cdn {
				t.Errorf("the CDN %s is not first in script-src %q, frame-src %q, img-src %q", cdn, s.Script, s.Frame, s.Img)
			}
		})
	}
}

func TestWidgetCSPOverridesAndFallback(t *testing.T) {
	w := Widget{Src: "https://oc-cdn-ocprod.azureedge.net/l.js", FallbackSrc: "https://ocprodpublicnamgs.blob.core.windows.net/l.js", OrgURL: "https://o-crm.omnichannelengagementhub.com"}
	s := WidgetCSP(w, map[string][]string{"font-src": {}, "connect-src": {"https://oc.example"}})
	if len(s.Font) != 0 {
		t.Errorf("font-src overridden with nothing: %q", s.Font)
	}
	if !slices.Equal(s.Connect, []string{"https://oc.example"}) {
		t.Errorf("connect-src %q, want only the override", s.Connect)
	}
	if !slices.Contains(s.Script, "https://ocprodpublicnamgs.blob.core.windows.net") || !slices.Contains(s.Frame, "https://ocprodpublicnamgs.blob.core.windows.net") {
		t.Errorf("fallback host missing: script-src %q, frame-src %q", s.Script, s.Frame)
	}
	var seen []string
	s.Each(func(d string, _ []string) { seen = append(seen, d) })
	if !slices.Equal(seen, WidgetDirectives) {
		t.Errorf("Each visits %q", seen)
	}
}

func TestValidateWidgetCSP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      Inject
		wantKey string // "" for no problem
	}{
		{"Microsoft's blob fallback", Inject{Widget: Widget{Src: "https://a.example/l.js", FallbackSrc: "https://ocprodpublicocegs.blob.core.windows.net/livechatwidget/scripts/LiveChatBootstrapper.js"}}, ""},
		{"GCC blob fallback", Inject{Widget: Widget{Src: "https://a.example/l.js", FallbackSrc: "https://ocprodocprodnamgs.blob.core.usgovcloudapi.net/l.js"}}, ""},
		{"loopback fallback over http", Inject{Widget: Widget{Src: "http://127.0.0.1:1/l.js", FallbackSrc: "http://127.0.0.1:2/l.js"}}, ""},
		{"fallback over http", Inject{Widget: Widget{Src: "https://a.example/l.js", FallbackSrc: "http://ocprodpublicocegs.blob.core.windows.net/l.js"}}, "inject.widget.fallback_src"},
		{"fallback on another host", Inject{Widget: Widget{Src: "https://a.example/l.js", FallbackSrc: "https://evil.example/l.js"}}, "inject.widget.fallback_src"},
		{"fallback on a look-alike host", Inject{Widget: Widget{Src: "https://a.example/l.js", FallbackSrc: "https://blob.core.windows.net.evil.example/l.js"}}, "inject.widget.fallback_src"},
		{"fallback with a quote", Inject{Widget: Widget{Src: "https://a.example/l.js", FallbackSrc: "https://x.blob.core.windows.net/l.js?a='+alert(1)+'"}}, "inject.widget.fallback_src"},
		{"fallback without src", Inject{Widget: Widget{FallbackSrc: "https://x.blob.core.windows.net/l.js"}}, "inject.widget.fallback_src"},
		{"unknown cloud", Inject{Widget: Widget{Cloud: "china"}}, "inject.widget.cloud"},
		{"unknown directive", Inject{CSP: CSP{WidgetSources: map[string][]string{"style-src": {"https://a.example"}}}}, "inject.csp.widget_sources.style-src"},
		{"keyword source", Inject{CSP: CSP{WidgetSources: map[string][]string{"script-src": {"'unsafe-inline'"}}}}, "inject.csp.widget_sources.script-src[0]"},
		{"two sources in one", Inject{CSP: CSP{WidgetSources: map[string][]string{"connect-src": {"https://a.example; script-src *"}}}}, "inject.csp.widget_sources.connect-src[0]"},
		{"bare wildcard", Inject{CSP: CSP{WidgetSources: map[string][]string{"connect-src": {"https://*"}}}}, "inject.csp.widget_sources.connect-src[0]"},
		{"host and scheme sources", Inject{CSP: CSP{WidgetSources: map[string][]string{"connect-src": {"https://*.a.example", "wss://b.example:443"}, "img-src": {"data:", "blob:"}}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p problems
			tc.in.validateWidgetCSP(&p)
			var keys []string
			for _, pr := range p {
				key, _, _ := strings.Cut(pr, ": ")
				keys = append(keys, key)
			}
			switch {
			case tc.wantKey == "" && len(p) > 0:
				t.Errorf("problems %v, want none", p)
			case tc.wantKey != "" && !slices.Contains(keys, tc.wantKey):
				t.Errorf("problems at %q, want one at %s", strings.Join(keys, ", "), tc.wantKey)
			}
		})
	}
}

// Whatever fallback_src passes validation sits safely in the onerror
// handler: a single-quoted JavaScript string in a double-quoted attribute.
func FuzzFallbackSrc(f *testing.F) {
	for _, s := range []string{
		"https://ocprodpublicocegs.blob.core.windows.net/livechatwidget/scripts/LiveChatBootstrapper.js",
		"http://127.0.0.1:8080/l.js", "https://x.blob.core.windows.net/a?b='+alert(1)+'", "http://[::1]/\\'",
		"https://x.blob.core.windows.net.evil.example/l.js", "javascript:alert(1)//.blob.core.windows.net",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkFallbackSrc(s) != nil {
			return
		}
		if strings.ContainsAny(s, "'\"\\<>`\n\r") {
			t.Fatalf("accepted %q, which leaves its string", s)
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackHost(u.Hostname()))) {
			t.Fatalf("accepted %q: not https (or loopback http)", s)
		}
	})
}
