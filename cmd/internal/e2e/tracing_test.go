package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// traced is a proxy environment whose spans land in memory, with an
// upstream that remembers the trace headers it was sent.
type traced struct {
	*env
	spans *tracetest.InMemoryExporter

	mu       sync.Mutex
	upstream []http.Header // trace headers of each upstream request, in order
}

func startTraced(t *testing.T, o envOptions) *traced {
	t.Helper()
	tr := &traced{spans: tracetest.NewInMemoryExporter()}
	// A syncer exports each span as it ends, so the test sees it at once.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tr.spans))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	o.Tracer = tp
	o.Upstream = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.upstream = append(tr.upstream, http.Header{
			"Traceparent": r.Header.Values("Traceparent"),
			"Tracestate":  r.Header.Values("Tracestate"),
		})
		tr.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "upstream page")
	})
	tr.env = startEnv(t, o)
	return tr
}

// lastUpstream is the trace headers of the latest upstream request.
func (tr *traced) lastUpstream(t *testing.T) http.Header {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.upstream) == 0 {
		t.Fatal("the upstream got no request")
	}
	return tr.upstream[len(tr.upstream)-1]
}

// reset forgets the spans so far (a login's, before the request under test).
func (tr *traced) reset() { tr.spans.Reset() }

// span waits for the ended span named name (the server span of a request
// ends just after its response reached the client) and returns it.
func (tr *traced) span(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	return tr.find(t, "named "+name, func(s tracetest.SpanStub) bool { return s.Name == name })
}

// serverSpan waits for the server span of the route named route (its
// lcw.route: "upstream", "token", "callback"…).
func (tr *traced) serverSpan(t *testing.T, route string) tracetest.SpanStub {
	t.Helper()
	return tr.find(t, "server span of "+route, func(s tracetest.SpanStub) bool {
		return s.SpanKind == trace.SpanKindServer && attrs(s)["lcw.route"].AsString() == route
	})
}

// httpClientSpan waits for the HTTP client span toward host (its
// server.address).
func (tr *traced) httpClientSpan(t *testing.T, host string) tracetest.SpanStub {
	t.Helper()
	return tr.find(t, "HTTP client span to "+host, func(s tracetest.SpanStub) bool {
		a := attrs(s)
		return s.SpanKind == trace.SpanKindClient && a["url.full"].AsString() != "" && a["server.address"].AsString() == host
	})
}

// find waits for the first ended span that matches.
func (tr *traced) find(t *testing.T, what string, match func(tracetest.SpanStub) bool) tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, s := range tr.spans.GetSpans() {
			if match(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span %s; have %s", what, spanNames(tr.spans.GetSpans()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func spanNames(spans tracetest.SpanStubs) string {
	names := make([]string, len(spans))
	for i, s := range spans {
		names[i] = s.Name
	}
	return "[" + strings.Join(names, ", ") + "]"
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// wantAttrs checks the attributes s must have, as strings ("" for must
// be absent).
func wantAttrs(t *testing.T, s tracetest.SpanStub, want map[string]string) {
	t.Helper()
	got := attrs(s)
	for k, v := range want {
		a, ok := got[attribute.Key(k)]
		switch {
		case v == "" && ok:
			t.Errorf("span %s: %s = %q, want it absent", s.Name, k, a.String())
		case v != "" && (!ok || a.String() != v):
			t.Errorf("span %s: %s = %q (set: %v), want %q", s.Name, k, a.String(), ok, v)
		}
	}
}

func wantChild(t *testing.T, child, parent tracetest.SpanStub) {
	t.Helper()
	if child.Parent.SpanID() != parent.SpanContext.SpanID() || child.SpanContext.TraceID() != parent.SpanContext.TraceID() {
		t.Errorf("span %s (parent %s, trace %s) is not a child of %s (%s, trace %s)", child.Name, child.Parent.SpanID(),
			child.SpanContext.TraceID(), parent.Name, parent.SpanContext.SpanID(), parent.SpanContext.TraceID())
	}
}

// traceparentOf splits a traceparent header into trace id and parent id.
func traceparentOf(t *testing.T, h string) (traceID, parentID string) {
	t.Helper()
	parts := strings.Split(h, "-")
	if len(parts) != 4 {
		t.Fatalf("traceparent %q is not version-traceid-parentid-flags", h)
	}
	return parts[1], parts[2]
}

// A signed-in page, by the semantic conventions (semconv v1.43.0): the
// server span "{method}" (the upstream's routes are not the proxy's to
// know) with the required attributes, the upstream round trip as its
// client child with url.full (the query's values redacted), and the
// upstream receives that client span as its parent, on the direct path
// (GET) and the standard Transport (a body).
func TestTracingSignedInPage(t *testing.T) {
	tr := startTraced(t, envOptions{})
	c, _ := tr.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	cookie := sessionCookie(t, tr.env, c)
	upstreamHost, upstreamPort, _ := strings.Cut(strings.TrimPrefix(tr.Upstream.URL, "http://"), ":")
	for _, tc := range []struct {
		name, method string
		body         io.Reader
	}{
		{"direct transport", "GET", nil},
		{"standard transport", "POST", strings.NewReader("a=1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr.reset()
			req, _ := http.NewRequest(tc.method, tr.URL+"/shop/cart?item=42", tc.body)
			req.Header.Set("Cookie", cookie)
			req.Header.Set("User-Agent", "e2e-browser/1.0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			server, client := tr.serverSpan(t, "upstream"), tr.httpClientSpan(t, upstreamHost)
			if server.Name != tc.method || client.Name != tc.method {
				t.Errorf("span names %q and %q, want %q", server.Name, client.Name, tc.method)
			}
			if server.SpanKind != trace.SpanKindServer || client.SpanKind != trace.SpanKindClient {
				t.Errorf("kinds: server span %v, client span %v", server.SpanKind, client.SpanKind)
			}
			if server.Parent.IsValid() {
				t.Errorf("the server span has a parent %v; a request without traceparent starts a trace", server.Parent)
			}
			wantChild(t, client, server)
			proxyHost, proxyPort, _ := strings.Cut(strings.TrimPrefix(tr.URL, "http://"), ":")
			wantAttrs(t, server, map[string]string{
				"http.request.method": tc.method, "url.path": "/shop/cart", "url.scheme": "http", "http.response.status_code": "200",
				"server.address": proxyHost, "server.port": proxyPort, "network.peer.address": "127.0.0.1", "client.address": "127.0.0.1",
				"network.protocol.version": "1.1", "user_agent.original": "e2e-browser/1.0", "lcw.route": "upstream",
				"http.route": "", // the upstream's routes are not the proxy's to know
				"url.query":  "", // query values carry codes and tokens
				"error.type": "",
			})
			wantAttrs(t, client, map[string]string{
				"http.request.method": tc.method, "url.full": tr.Upstream.URL + "/shop/cart?item=REDACTED", "http.response.status_code": "200",
				"server.address": upstreamHost, "server.port": upstreamPort, "url.path": "",
			})
			tid, pid := traceparentOf(t, tr.lastUpstream(t).Get("Traceparent"))
			if tid != server.SpanContext.TraceID().String() || pid != client.SpanContext.SpanID().String() {
				t.Errorf("upstream got traceparent trace %s parent %s; want trace %s parent %s (the client span)",
					tid, pid, server.SpanContext.TraceID(), client.SpanContext.SpanID())
			}
		})
	}
}

// A token request: the server span "GET /_lcw/token" with its route, and
// minting as its child.
func TestTracingTokenRequest(t *testing.T) {
	tr := startTraced(t, envOptions{})
	c, _ := tr.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	tr.reset()
	resp := testenv.Do(t, c, "GET", tr.URL+"/_lcw/token", map[string]string{"Sec-Fetch-Site": "same-origin"})
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d", resp.StatusCode)
	}
	server, mint := tr.span(t, "GET /_lcw/token"), tr.span(t, "token.mint")
	wantChild(t, mint, server)
	wantAttrs(t, server, map[string]string{
		"http.request.method": "GET", "url.path": "/_lcw/token", "url.scheme": "http", "http.route": "/_lcw/token",
		"http.response.status_code": "200", "lcw.route": "token",
	})
	if len(mint.Attributes) != 0 {
		t.Errorf("token.mint carries %v; it records timing only", mint.Attributes)
	}
}

// context_url is traced as an HTTP client span under token.context_url,
// and its backend receives that span as its parent in traceparent, so its
// own spans join the token's trace. The URL's query keeps its keys only.
func TestTracingContextURL(t *testing.T) {
	var mu sync.Mutex
	var got string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Get("Traceparent")
		mu.Unlock()
		io.WriteString(w, `{"msdyn_cartvalue": 42}`)
	}))
	defer backend.Close()
	tr := startTraced(t, envOptions{Extra: "token:\n  issuer: shop.example.com\n  signing_keys:\n    - file: {keyfile}\n" +
		"  context_url: " + backend.URL + "/ctx?api_key=SECRETKEY\n  context_keys:\n    msdyn_cartvalue: { type: number }\n"})
	c, _ := tr.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	tr.reset()
	resp := testenv.Do(t, c, "GET", tr.URL+"/_lcw/token", map[string]string{"Sec-Fetch-Site": "same-origin"})
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d", resp.StatusCode)
	}
	host, _, _ := strings.Cut(strings.TrimPrefix(backend.URL, "http://"), ":")
	call, ctxSpan := tr.httpClientSpan(t, host), tr.span(t, "token.context_url")
	wantChild(t, call, ctxSpan)
	wantChild(t, ctxSpan, tr.span(t, "token.mint"))
	if ctxSpan.SpanKind != trace.SpanKindInternal || call.Name != "POST" {
		t.Errorf("token.context_url is %v, the call %q; want internal and POST", ctxSpan.SpanKind, call.Name)
	}
	wantAttrs(t, call, map[string]string{
		"http.request.method": "POST", "url.full": backend.URL + "/ctx?api_key=REDACTED", "http.response.status_code": "200",
	})
	mu.Lock()
	defer mu.Unlock()
	tid, pid := traceparentOf(t, got)
	if tid != call.SpanContext.TraceID().String() || pid != call.SpanContext.SpanID().String() {
		t.Errorf("context_url got traceparent trace %s parent %s; want the call's span %s %s", tid, pid, call.SpanContext.TraceID(), call.SpanContext.SpanID())
	}
}

// The login callback, against the real test OP: the code exchange and the
// ID token check are children of the callback's server span, and the
// exchange's HTTP call to the OP's token endpoint is a client span beneath
// it, with the OP's address.
func TestTracingLoginCallback(t *testing.T) {
	tr := startTraced(t, envOptions{})
	tr.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	callback := tr.serverSpan(t, "callback")
	exchange, verify := tr.span(t, "oidc.exchange"), tr.span(t, "oidc.verify_id_token")
	wantChild(t, exchange, callback)
	wantChild(t, verify, callback)
	opHost, _, _ := strings.Cut(strings.TrimPrefix(tr.OP.Issuer, "http://"), ":")
	call := tr.find(t, "the token endpoint call", func(s tracetest.SpanStub) bool {
		return s.SpanKind == trace.SpanKindClient && s.Parent.SpanID() == exchange.SpanContext.SpanID()
	})
	wantAttrs(t, exchange, map[string]string{"server.address": opHost})
	wantAttrs(t, call, map[string]string{"http.request.method": "POST", "server.address": opHost, "http.response.status_code": "200"})
	if u := attrs(call)["url.full"].AsString(); !strings.HasPrefix(u, tr.OP.Issuer) || strings.Contains(u, "code=") {
		t.Errorf("token endpoint url.full %q", u)
	}
	if callback.Name != "GET /_lcw/callback" {
		t.Errorf("callback span named %q", callback.Name)
	}
	wantAttrs(t, callback, map[string]string{"url.path": "/_lcw/callback", "http.route": "/_lcw/callback", "http.response.status_code": "302"})
	if exchange.Status.Code.String() == "Error" || verify.Status.Code.String() == "Error" || call.Status.Code.String() == "Error" {
		t.Errorf("a successful login left error statuses: %v %v %v", exchange.Status, verify.Status, call.Status)
	}
}

// With the Redis store, the session's load on a page request and its save
// at login are client spans under the request's server span.
func TestTracingRedisStore(t *testing.T) {
	redis := testenv.StartRedis(t)
	tr := startTraced(t, envOptions{Extra: "session:\n  secret: {secret}\n  store: redis\n  redis:\n    url: " + redis.URL() + "\n"})
	c, _ := tr.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	wantChild(t, tr.span(t, "session.save"), tr.serverSpan(t, "callback"))
	cookie := sessionCookie(t, tr.env, c)
	tr.reset()
	resp := testenv.Do(t, &http.Client{}, "GET", tr.URL+"/page", map[string]string{"Cookie": cookie})
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	load := tr.span(t, "session.load")
	wantChild(t, load, tr.serverSpan(t, "upstream"))
	if load.SpanKind != trace.SpanKindClient {
		t.Errorf("session.load is %v, want client", load.SpanKind)
	}
	wantAttrs(t, load, map[string]string{"db.system.name": "redis"})
}

// A traceparent is continued only from a trusted proxy. From anyone else
// the request starts a new trace and neither trace header reaches the
// upstream.
func TestTracingTraceparentOnlyFromTrustedProxies(t *testing.T) {
	const (
		clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
		clientParent = "00f067aa0ba902b7"
		clientState  = "vendor=opaque"
	)
	hdr := map[string]string{"Traceparent": "00-" + clientTrace + "-" + clientParent + "-01", "Tracestate": clientState}
	tests := []struct {
		name    string
		trusted string
		follow  bool
	}{
		{"trusted proxy: continued", "[127.0.0.1/32]", true},
		{"untrusted client: ignored", "[192.0.2.1/32]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := startTraced(t, envOptions{Extra: "trusted_proxies: " + tt.trusted + "\n"})
			resp := testenv.Do(t, &http.Client{}, "GET", tr.URL+"/public/page", hdr)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			server := tr.serverSpan(t, "upstream")
			got := tr.lastUpstream(t)
			tid, _ := traceparentOf(t, got.Get("Traceparent"))
			if tid != server.SpanContext.TraceID().String() {
				t.Errorf("upstream traceparent is in trace %s, the server span in %s", tid, server.SpanContext.TraceID())
			}
			if tt.follow {
				if server.SpanContext.TraceID().String() != clientTrace || server.Parent.SpanID().String() != clientParent || !server.Parent.IsRemote() {
					t.Errorf("server span trace %s parent %s; want the trusted proxy's %s %s", server.SpanContext.TraceID(), server.Parent.SpanID(), clientTrace, clientParent)
				}
				if got.Get("Tracestate") != clientState {
					t.Errorf("upstream tracestate %q, want the trusted proxy's %q carried on", got.Get("Tracestate"), clientState)
				}
				return
			}
			if server.SpanContext.TraceID().String() == clientTrace || server.Parent.IsValid() {
				t.Errorf("server span joined the client's trace (trace %s, parent %v)", server.SpanContext.TraceID(), server.Parent)
			}
			if strings.Contains(got.Get("Traceparent"), clientTrace) || len(got["Tracestate"]) != 0 {
				t.Errorf("the client's trace headers reached the upstream: %v", got)
			}
		})
	}
}

// With tracing off the trace headers are routing headers like any other:
// from a trusted proxy they reach the upstream untouched, from anyone else
// none of them does, so a client cannot join the upstream's spans to a
// trace of its choosing or hand it baggage.
func TestTracingOffTraceHeadersOnlyFromTrustedProxies(t *testing.T) {
	hdr := map[string]string{
		"Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"Tracestate":  "vendor=opaque",
		"Baggage":     "user.role=admin",
	}
	for _, tt := range []struct {
		name    string
		trusted string
		pass    bool
	}{
		{"trusted proxy: passed", "[127.0.0.1/32]", true},
		{"untrusted client: dropped", "[192.0.2.1/32]", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan http.Header, 1)
			e := startEnv(t, envOptions{
				Extra:    "trusted_proxies: " + tt.trusted + "\n",
				Upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }),
			})
			resp := testenv.Do(t, &http.Client{}, "GET", e.URL+"/public/page", hdr)
			resp.Body.Close()
			h := <-got
			for k, v := range hdr {
				if tt.pass && h.Get(k) != v {
					t.Errorf("upstream got %s %q; want the trusted proxy's %q, untouched", k, h.Get(k), v)
				}
				if !tt.pass && len(h[k]) != 0 {
					t.Errorf("the client's %s %q reached the upstream", k, h[k])
				}
			}
		})
	}
}

// Nothing secret is ever recorded: every name, attribute, event and
// status of every span of a login, a token and a page request with query
// strings, cookies and an Authorization header is scanned for them.
func TestTracingRecordsNoSecrets(t *testing.T) {
	tr := startTraced(t, envOptions{})
	c, _ := tr.login(t, testenv.VIPUsername, testenv.VIPPassword, "/after-login?next=%2Fcart")
	cookie := sessionCookie(t, tr.env, c)
	const bearer = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	resp := testenv.Do(t, c, "GET", tr.URL+"/_lcw/token?sub=admin&lwicontexts=eyJ4Ijp0cnVlfQ", map[string]string{
		"Sec-Fetch-Site": "same-origin", "Authorization": bearer,
	})
	minted, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(minted), "eyJ") {
		t.Fatalf("token: %d %.40s", resp.StatusCode, minted)
	}
	resp = testenv.Do(t, &http.Client{}, "GET", tr.URL+"/shop?session=eyJzZWNyZXQiOjF9&q=x", map[string]string{"Cookie": cookie, "Authorization": bearer})
	resp.Body.Close()
	tr.serverSpan(t, "upstream") // the last request's spans have ended

	// A query's keys may appear in url.full, never a value (checked below).
	forbidden := []string{"eyJ", "Bearer", "_lcw=", cookie[len("_lcw="):][:24], string(minted)[:24], "%2Fcart", "=admin", "=x"}
	queryValue := regexp.MustCompile(`=[^&]*`)
	spans := tr.spans.GetSpans()
	if len(spans) < 8 {
		t.Fatalf("only %d spans: %s", len(spans), spanNames(spans))
	}
	for _, s := range spans {
		texts := []string{s.Name, s.Status.Description}
		for _, kv := range s.Attributes {
			texts = append(texts, kv.Value.String())
			if kv.Key == "url.full" {
				for _, v := range queryValue.FindAllString(kv.Value.AsString(), -1) {
					if v != "=REDACTED" {
						t.Errorf("span %s: url.full %q keeps the query value %q", s.Name, kv.Value.AsString(), v)
					}
				}
			} else if strings.Contains(kv.Value.String(), "?") {
				t.Errorf("span %s: %s = %q holds a query", s.Name, kv.Key, kv.Value.String())
			}
		}
		for _, ev := range s.Events {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, kv.Value.String())
			}
		}
		for _, text := range texts {
			for _, f := range forbidden {
				if strings.Contains(text, f) {
					t.Errorf("span %s records %q, which contains %q", s.Name, text, f)
				}
			}
		}
	}
	t.Logf("scanned %d spans: %s", len(spans), spanNames(spans))
}
