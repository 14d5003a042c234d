package config

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// This file is the one place that knows which Content-Security-Policy
// sources Omnichannel's live chat widget needs, per directive: what
// inject.csp.allow_widget adds to a page's policy, what `lcw-auth-proxy
// doctor` expects a live page to allow, and what the demo's simulated
// widget is allowed. Sources: Microsoft's customer-side URL list
// (ce/customer-service/implement/system-requirements-omnichannel.md in
// MicrosoftDocs/dynamics-365-customer-engagement) and the code of the npm
// packages the widget is built from (@microsoft/omnichannel-chat-sdk,
// -chat-widget, -chat-components, -amsclient), as cited per source below.

// Widget clouds (inject.widget.cloud).
const (
	// CloudPublic is Microsoft's commercial cloud (*.omnichannelengagementhub.com).
	CloudPublic = "public"
	// CloudUSGov is the US Government Community Cloud (GCC), whose
	// Omnichannel hosts end in .us.
	CloudUSGov = "usgov"
)

// WidgetDirectives are the directives the widget's sources go into, in the
// order WidgetSources.Each visits them and inject.csp.widget_sources accepts
// them. style-src is not among them: see WidgetStyleNote.
var WidgetDirectives = []string{"script-src", "connect-src", "frame-src", "img-src", "media-src", "font-src"}

// EffectiveDirectives lists the directives a browser consults, in order,
// for the requests directive governs (for style-src: <style> elements),
// the first a policy has deciding (CSP3 §6.8.3, "effective directive"):
// the directive itself first, default-src last. The proxy's rewrite and
// doctor's check read the same chains.
func EffectiveDirectives(directive string) []string {
	switch directive {
	case "frame-src":
		return []string{"frame-src", "child-src", "default-src"}
	case "style-src":
		return []string{"style-src-elem", "style-src", "default-src"}
	}
	return []string{directive, "default-src"}
}

// CSPHashSource is the hash source ('sha256-…') that allows the inline
// code js: an event handler's text, with 'unsafe-hashes'.
func CSPHashSource(js string) string {
	sum := sha256.Sum256([]byte(js))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// WidgetStyleNote says why style-src is left alone, for README and doctor.
// The widget's UI (Fluent UI's merge-styles, Bot Framework Web Chat) adds
// its own <style> elements without a nonce, so a style-src without
// 'unsafe-inline' blocks its look whatever hosts are added, and adding
// 'unsafe-inline' (or a nonce, which would switch the site's own
// 'unsafe-inline' off) is the site's decision, not ours.
const WidgetStyleNote = "the widget adds its own <style> elements (Fluent UI, Web Chat) without a nonce: style-src needs 'unsafe-inline' for its look"

// WidgetSources are the sources one widget needs, per directive. A nil
// list adds nothing to that directive.
type WidgetSources struct {
	Script, Connect, Frame, Img, Media, Font []string
}

// Each calls fn with every directive of WidgetDirectives and its sources.
func (s WidgetSources) Each(fn func(directive string, sources []string)) {
	for _, d := range WidgetDirectives {
		fn(d, *s.field(d))
	}
}

func (s *WidgetSources) field(directive string) *[]string {
	switch directive {
	case "script-src":
		return &s.Script
	case "connect-src":
		return &s.Connect
	case "frame-src":
		return &s.Frame
	case "img-src":
		return &s.Img
	case "media-src":
		return &s.Media
	case "font-src":
		return &s.Font
	}
	return nil
}

// WidgetCloud is the cloud a widget runs in: cloud when set
// (inject.widget.cloud), otherwise read from the domain of its org URL as
// Microsoft's SDK does (telemetry/GCCDomainPatterns, CoreServicesUtils:
// *.omnichannelengagementhub.us and the GCC geo "crm9").
func WidgetCloud(cloud, orgURL string) string {
	if cloud != "" {
		return cloud
	}
	host := ""
	if u, err := url.Parse(orgURL); err == nil {
		host = strings.ToLower(u.Hostname())
	}
	if strings.HasSuffix(host, ".omnichannelengagementhub.us") || strings.Contains(host, "-crm9.") {
		return CloudUSGov
	}
	return CloudPublic
}

// euOrgDomains are the org URL endings for which the SDK sends its
// telemetry to the EU collector (telemetry/EUDomainNames.js).
var euOrgDomains = []string{
	"crm4.omnichannelengagementhub.com", "crm11.omnichannelengagementhub.com", "crm12.omnichannelengagementhub.com",
	"crm16.omnichannelengagementhub.com", "crm17.omnichannelengagementhub.com", "crm19.omnichannelengagementhub.com",
	"eu.omnichannelengagementhub.com", "fr.omnichannelengagementhub.com", "de.omnichannelengagementhub.com",
	"ch.omnichannelengagementhub.com", "uk.omnichannelengagementhub.com",
}

// WidgetCSP derives the sources the widget w needs from its loader's host
// (src, and fallback_src), the cloud of its org URL and the overrides of
// inject.csp.widget_sources (a directive listed there replaces the derived
// list; an empty list adds nothing to that directive).
func WidgetCSP(w Widget, overrides map[string][]string) WidgetSources {
	cdn := origins(w.Src, w.FallbackSrc)
	var s WidgetSources
	switch WidgetCloud(w.Cloud, w.OrgURL) {
	case CloudUSGov:
		// Microsoft's list, "Government Community Cloud (GCC)".
		s.Connect = []string{
			// Omnichannel's REST API (the org URL) and ACS chat.
			"https://*.omnichannelengagementhub.us",
			"https://*.communication.azure.us", "wss://*.communication.azure.us",
			// Real-time notifications (trouter) and attachments (AMS) in GCC.
			"https://*.gcc.teams.microsoft.com", "wss://*.gcc.teams.microsoft.com",
			"https://oc-auth.azurewebsites.us",
			// The SDK's GCC telemetry collector (telemetry/retrieveCollectorUri.js)
			// and the one Microsoft's GCC list names.
			"https://tb.pipe.aria.microsoft.com", "https://browser.pipe.aria.microsoft.com",
		}
	default:
		// Microsoft's list, "Your customers must allow access to…".
		s.Connect = []string{
			// Omnichannel's REST API: the org URL (data-org-url) and the
			// SDK's core-services URLs (m-{org}.{geo}.omnichannelengagementhub.com).
			"https://*.omnichannelengagementhub.com",
			// ACS chat: REST calls and its real-time channel; trouter is
			// ACS's push channel on both hosts Microsoft names, over
			// https (long poll) and wss. The chat client asks the ACS
			// endpoint for the trouter and registrar URLs it uses
			// (…/chat/config/realTimeNotifications, in
			// @azure/communication-signaling), and polls the thread over
			// REST while it cannot reach them (TestWidgetUnderStrictCSP).
			// No unpkg.com: the SDK bundles its ACS Web Chat adapter from
			// npm; only its unused resolveChatAdapterUrl() names unpkg.
			"https://*.communication.azure.com", "wss://*.communication.azure.com",
			"https://*.trouter.communication.microsoft.com", "wss://*.trouter.communication.microsoft.com",
			"https://*.trouter.teams.microsoft.com", "wss://*.trouter.teams.microsoft.com",
			// Experimentation config and telemetry (Microsoft's list; the
			// SDK's default collector is browser.pipe.aria.microsoft.com).
			"https://ecs.office.com", "https://browser.pipe.aria.microsoft.com",
			// The OC SDK's own CDN (Microsoft's list).
			"https://ocsdk-prod.azureedge.net",
		}
		if host := orgHost(w.OrgURL); slices.ContainsFunc(euOrgDomains, func(d string) bool { return strings.HasSuffix(host, d) }) {
			// EU orgs send the SDK's telemetry to the EU collector.
			s.Connect = append(s.Connect, "https://eu-mobile.events.data.microsoft.com")
		}
	}
	// The loader and the widget's scripts come from its CDN (and the
	// fallback host); Microsoft's list also names Web Chat's CDN path.
	s.Script = append(slices.Clone(cdn), "https://cdn.botframework.com/botframework-webchat/")
	// The loader fetches the widget's configuration and localization from its CDN.
	s.Connect = append(slices.Clone(cdn), s.Connect...)
	// The SDK frames its attachment client from {widget CDN}/livechatwidget/v2scripts/ams
	// (AMSClientUtils.retrieveRegionBasedUrl), and the v2 widget its chat
	// pages from …/livechatwidget/v2public/.
	s.Frame = slices.Clone(cdn)
	// Images from the CDN; the widget's own icons are data:image/svg+xml
	// (omnichannel-chat-widget and -components assets/Icons.js).
	s.Img = append(slices.Clone(cdn), "data:")
	// The new-message sound is a data:audio/mpeg URL played with new Audio()
	// (assets/Audios.js, AudioNotificationStateful).
	s.Media = []string{"data:"}
	// The header and footer call Fluent UI's initializeIcons(), which loads
	// its icon font from Microsoft's Office CDN (@fluentui/font-icons-mdl2's
	// default base URL, @fluentui/style-utilities' FLUENT_CDN_BASE_URL). The
	// widget takes Fluent UI 8 at any minor version from 8.46, and the host
	// moved: res-1.cdn.office.net in older 8.x builds, res.cdn.office.net in
	// the one the pinned widget resolves to today (style-utilities 8.15.4,
	// …/files/fabric-cdn-prod_20261014.001/assets/icons/*.woff, seen
	// blocked when the widget ran with its styles allowed). Both, since
	// which build Microsoft's hosted widget ships is not published.
	s.Font = []string{"https://res.cdn.office.net", "https://res-1.cdn.office.net"}
	for _, d := range slices.Sorted(maps.Keys(overrides)) {
		if f := s.field(d); f != nil {
			*f = slices.Clone(overrides[d])
		}
	}
	return s
}

// origins returns scheme://host of each absolute URL in urls, once each.
func origins(urls ...string) []string {
	var out []string
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if raw == "" || err != nil || u.Host == "" {
			continue
		}
		if o := strings.ToLower(u.Scheme + "://" + u.Host); !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

func orgHost(orgURL string) string {
	u, err := url.Parse(orgURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// fallbackHosts are where Microsoft serves the widget loader's copy for
// the snippet's onerror fallback: its regional storage accounts
// (ocprod<region>gs.blob.core.windows.net; GCC's is in usgovcloudapi.net).
var fallbackHosts = []string{".blob.core.windows.net", ".blob.core.usgovcloudapi.net"}

// validateWidgetCSP checks inject.widget.cloud, inject.widget.fallback_src
// and inject.csp.widget_sources.
func (i *Inject) validateWidgetCSP(p *problems) {
	switch i.Widget.Cloud {
	case "", CloudPublic, CloudUSGov:
	default:
		p.add("inject.widget.cloud", "%q must be empty (read from org_url's domain), %s or %s", i.Widget.Cloud, CloudPublic, CloudUSGov)
	}
	if f := i.Widget.FallbackSrc; f != "" {
		if err := checkFallbackSrc(f); err != nil {
			p.add("inject.widget.fallback_src", "%q %v", f, err)
		}
		if i.Widget.Src == "" {
			p.add("inject.widget.fallback_src", "needs inject.widget.src: it is the loader's copy used when src fails to load")
		}
	}
	for _, d := range slices.Sorted(maps.Keys(i.CSP.WidgetSources)) {
		key := "inject.csp.widget_sources." + d
		if !slices.Contains(WidgetDirectives, d) {
			p.add(key, "is not a directive the widget needs; use one of %s", strings.Join(WidgetDirectives, ", "))
			continue
		}
		for j, src := range i.CSP.WidgetSources[d] {
			if err := checkWidgetSource(src); err != nil {
				p.add(fmt.Sprintf("%s[%d]", key, j), "%q %v", src, err)
			}
		}
	}
}

// checkFallbackSrc accepts the https URL of a loader on Microsoft's blob
// storage (http and any host only on loopback addresses, for tests and
// the demo).
func checkFallbackSrc(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case strings.ContainsAny(raw, `'"\<>`+"`"):
		// It is written into a JavaScript string in an HTML attribute.
		return fmt.Errorf("must not contain quotes, backslashes or angle brackets")
	case err != nil || u.Host == "" || u.User != nil || u.Opaque != "":
		return fmt.Errorf("must be an absolute https URL, e.g. https://ocprodpublicocegs.blob.core.windows.net/livechatwidget/scripts/LiveChatBootstrapper.js")
	case IsLoopbackHost(u.Hostname()) && (u.Scheme == "http" || u.Scheme == "https"):
		return nil
	case u.Scheme != "https":
		return fmt.Errorf("must use https (http only for loopback addresses)")
	case !slices.ContainsFunc(fallbackHosts, func(h string) bool { return strings.HasSuffix(strings.ToLower(u.Hostname()), h) }):
		return fmt.Errorf("must be on Microsoft's widget storage (a host ending in %s), as in the onerror fallback of Microsoft's embed code", strings.Join(fallbackHosts, " or "))
	}
	return nil
}

// checkWidgetSource accepts a host source (https://*.example.com, with a
// scheme) or one of the scheme sources data: and blob:. Keywords such as
// 'unsafe-inline' are refused: the proxy only ever adds sources by name.
func checkWidgetSource(src string) error {
	switch {
	case src == "data:" || src == "blob:":
		return nil
	case strings.HasPrefix(src, "'"):
		return fmt.Errorf("is a keyword; only host sources (https://host), data: and blob: can be added")
	case strings.ContainsAny(src, " \t\r\n\f;,'\""):
		return fmt.Errorf("must be one source, without spaces, quotes, ';' or ','")
	}
	scheme, rest, ok := strings.Cut(src, "://")
	if !ok || (scheme != "https" && scheme != "wss" && scheme != "http" && scheme != "ws") || rest == "" || strings.HasPrefix(rest, "*/") || rest == "*" {
		return fmt.Errorf("must be a host source with a scheme, e.g. https://*.omnichannelengagementhub.com or wss://host")
	}
	return nil
}
