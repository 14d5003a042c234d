package testenv

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // OTEL_EXPORTER_OTLP_COMPRESSION=gzip over gRPC
	"google.golang.org/protobuf/proto"
)

// OTLPReceiver is a real OTLP trace receiver on loopback, owned by one
// test: the protocol's own generated gRPC TraceService
// (go.opentelemetry.io/proto/otlp, the types the OpenTelemetry SDK's
// exporters marshal) served by grpc-go, and the OTLP/HTTP binary protobuf
// endpoint POST /v1/traces as the specification defines it (gzip bodies
// included). It keeps every span it receives, with the protocol that
// carried it, for the test to look up by trace id. Built on the
// generated code the exporters already link, it adds no module and
// compiles in a moment, where a collector binary takes minutes to build
// from source; the exporter under test stays the real one, over real
// sockets.
type OTLPReceiver struct {
	HTTP string // http://127.0.0.1:port, the OTLP/HTTP base URL (/v1/traces appended)
	GRPC string // http://127.0.0.1:port, the OTLP/gRPC endpoint

	mu      sync.Mutex
	spans   []OTLPSpan
	arrived chan struct{} // closed and replaced whenever spans arrive
}

// OTLPSpan is one received span, flattened for assertions: ids in lower
// case hex, attribute values as text.
type OTLPSpan struct {
	Protocol     string // "grpc" or "http/protobuf": how it arrived
	Service      string // the resource's service.name
	TraceID      string
	SpanID       string
	ParentSpanID string // "" for a root span
	Name         string
	Kind         string // "server", "client", "internal", "producer", "consumer"
	Attributes   map[string]string
}

// Attr returns the value of attribute key as text ("" when absent).
func (s OTLPSpan) Attr(key string) string { return s.Attributes[key] }

// StartOTLPReceiver starts both endpoints on ports the kernel picks and
// stops them when the test ends. In-process, so it never skips.
func StartOTLPReceiver(t testing.TB) *OTLPReceiver {
	t.Helper()
	r := &OTLPReceiver{arrived: make(chan struct{})}

	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: otlp grpc listen: %v", err)
	}
	gs := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(gs, traceService{r: r})
	go func() { _ = gs.Serve(grpcLn) }()
	t.Cleanup(gs.Stop)
	r.GRPC = "http://" + grpcLn.Addr().String()

	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: otlp http listen: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.serveHTTP)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(httpLn) }()
	t.Cleanup(func() { _ = hs.Close() })
	r.HTTP = "http://" + httpLn.Addr().String()
	return r
}

// traceService is the gRPC side: the generated service interface, so a
// request grpc-go could not decode as ExportTraceServiceRequest never
// reaches it.
type traceService struct {
	collectortrace.UnimplementedTraceServiceServer
	r *OTLPReceiver
}

func (s traceService) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	s.r.record("grpc", req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// serveHTTP follows OTLP/HTTP's binary protobuf encoding: the body is an
// ExportTraceServiceRequest (gzip when Content-Encoding says so), the
// answer an ExportTraceServiceResponse, a refusal a google.rpc.Status.
// JSON, the other encoding, is refused with 415: the proxy's exporter
// never sends it.
func (r *OTLPReceiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); ct != "application/x-protobuf" {
		otlpHTTPError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/x-protobuf")
		return
	}
	var body io.Reader = http.MaxBytesReader(w, req.Body, 64<<20)
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			otlpHTTPError(w, http.StatusBadRequest, "gzip: "+err.Error())
			return
		}
		defer zr.Close()
		body = zr
	default:
		otlpHTTPError(w, http.StatusUnsupportedMediaType, "Content-Encoding "+enc+" is not supported")
		return
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		otlpHTTPError(w, http.StatusBadRequest, err.Error())
		return
	}
	var msg collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &msg); err != nil {
		otlpHTTPError(w, http.StatusBadRequest, "not an ExportTraceServiceRequest: "+err.Error())
		return
	}
	r.record("http/protobuf", &msg)
	writeProto(w, http.StatusOK, &collectortrace.ExportTraceServiceResponse{})
}

// otlpHTTPError answers as OTLP/HTTP says a server refuses a request: the
// status code, and a google.rpc.Status in the body's encoding.
func otlpHTTPError(w http.ResponseWriter, status int, msg string) {
	writeProto(w, status, &spb.Status{Code: int32(codes.InvalidArgument), Message: msg})
}

func writeProto(w http.ResponseWriter, status int, m proto.Message) {
	out, err := proto.Marshal(m)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func (r *OTLPReceiver) record(protocol string, req *collectortrace.ExportTraceServiceRequest) {
	var got []OTLPSpan
	for _, rs := range req.GetResourceSpans() {
		service := attrMap(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, OTLPSpan{
					Protocol:     protocol,
					Service:      service,
					TraceID:      hex.EncodeToString(s.GetTraceId()),
					SpanID:       hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()),
					Name:         s.GetName(),
					Kind:         spanKind(s.GetKind()),
					Attributes:   attrMap(s.GetAttributes()),
				})
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, got...)
	close(r.arrived)
	r.arrived = make(chan struct{})
}

func spanKind(k tracepb.Span_SpanKind) string {
	name, ok := strings.CutPrefix(k.String(), "SPAN_KIND_")
	if !ok {
		return k.String()
	}
	return strings.ToLower(name)
}

// attrMap writes each value as text: strings as they are, numbers and
// booleans as Go formats them, anything else in its protobuf text form.
func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(x.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = strconv.FormatBool(x.BoolValue)
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = strconv.FormatFloat(x.DoubleValue, 'f', -1, 64)
		default:
			m[kv.GetKey()] = fmt.Sprint(v)
		}
	}
	return m
}

// Trace waits until spans of service with traceID have arrived and
// returns every span of that trace received so far. It waits at most
// limit: exporters batch.
func (r *OTLPReceiver) Trace(t testing.TB, service, traceID string, limit time.Duration) []OTLPSpan {
	t.Helper()
	timeout := time.After(limit)
	for {
		r.mu.Lock()
		var found []OTLPSpan
		for _, s := range r.spans {
			if s.Service == service && s.TraceID == traceID {
				found = append(found, s)
			}
		}
		n, arrived := len(r.spans), r.arrived
		r.mu.Unlock()
		if len(found) > 0 {
			return found
		}
		select {
		case <-arrived:
		case <-timeout:
			t.Fatalf("testenv: no span of trace %s of service %q after %s (%d spans received in all)", traceID, service, limit, n)
			return nil
		}
	}
}
