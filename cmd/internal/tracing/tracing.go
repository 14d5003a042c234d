// Package tracing builds the OpenTelemetry SDK's tracer provider from the
// resolved configuration (config.TracingExport): the OTLP exporter over
// http/protobuf or gRPC, the sampler, the batch processor and the
// resource. Nothing is registered globally: the caller hands the provider
// to the parts that make spans, and shuts it down (flushing what is
// queued) when the servers have drained.
package tracing

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"google.golang.org/grpc/credentials"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// New builds the tracer provider for e, which must be On. version is the
// service.version attribute. Building connects to nothing: the exporter
// dials when the first batch is sent.
//
// Every setting is passed to the exporter and the SDK explicitly, because
// both would otherwise read OTEL_* from the process environment on their
// own; config read them already, through the getenv the program was
// given. One exception cannot be avoided: the SDK merges the process's
// OTEL_RESOURCE_ATTRIBUTES beneath the resource given here (which wins on
// every key it sets).
func New(ctx context.Context, e config.TracingExport, version string, log *slog.Logger) (*sdktrace.TracerProvider, error) {
	exp, err := newExporter(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("tracing: %s exporter for %s: %w", e.Protocol, e.Endpoint.Redacted(), err)
	}
	res, err := newResource(ctx, e, version)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	sampler := sdktrace.TraceIDRatioBased(e.Ratio)
	if e.ParentBased {
		sampler = sdktrace.ParentBased(sampler)
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(&loggedExporter{SpanExporter: exp, log: log, endpoint: e.String()},
			sdktrace.WithBatchTimeout(e.BatchDelay),
			sdktrace.WithExportTimeout(e.BatchTimeout),
			sdktrace.WithMaxQueueSize(e.QueueSize),
			sdktrace.WithMaxExportBatchSize(e.BatchSize),
		),
		sdktrace.WithSampler(sampler),
		sdktrace.WithResource(res),
		sdktrace.WithRawSpanLimits(spanLimits),
	), nil
}

// spanLimits are the SDK's defaults, given explicitly so that
// OTEL_SPAN_*_LIMIT in the process environment is not read behind
// config's back. The proxy's spans carry a handful of attributes.
var spanLimits = sdktrace.SpanLimits{
	AttributeValueLengthLimit:   sdktrace.DefaultAttributeValueLengthLimit,
	AttributeCountLimit:         sdktrace.DefaultAttributeCountLimit,
	EventCountLimit:             sdktrace.DefaultEventCountLimit,
	LinkCountLimit:              sdktrace.DefaultLinkCountLimit,
	AttributePerEventCountLimit: sdktrace.DefaultAttributePerEventCountLimit,
	AttributePerLinkCountLimit:  sdktrace.DefaultAttributePerLinkCountLimit,
}

func newExporter(ctx context.Context, e config.TracingExport) (sdktrace.SpanExporter, error) {
	secure := e.Endpoint.Scheme == "https"
	tc := e.TLS
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12} // the system's roots
	}
	if e.Protocol == config.ProtocolGRPC {
		opts := []otlptracegrpc.Option{
			otlptracegrpc.WithEndpointURL(e.Endpoint.String()), // http:// means no TLS
			otlptracegrpc.WithHeaders(e.Headers),
			otlptracegrpc.WithTimeout(e.Timeout),
		}
		if secure {
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tc)))
		}
		if e.Compression == "gzip" {
			opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(e.Endpoint.String()), // the full URL, path included
		otlptracehttp.WithHeaders(e.Headers),
		otlptracehttp.WithTimeout(e.Timeout),
		otlptracehttp.WithCompression(otlptracehttp.NoCompression),
	}
	if e.Compression == "gzip" {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	}
	if secure {
		opts = append(opts, otlptracehttp.WithTLSClientConfig(tc))
	}
	return otlptracehttp.New(ctx, opts...)
}

func newResource(ctx context.Context, e config.TracingExport, version string) (*resource.Resource, error) {
	attrs := make([]attribute.KeyValue, 0, len(e.Resource)+2)
	for k, v := range e.Resource {
		attrs = append(attrs, attribute.String(k, v))
	}
	// After OTEL_RESOURCE_ATTRIBUTES, so the resolved name wins (config
	// already let OTEL_SERVICE_NAME and the attributes' service.name win
	// over tracing.service_name).
	attrs = append(attrs, semconv.ServiceName(e.ServiceName), semconv.ServiceVersion(version))
	return resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
}

// loggedExporter reports failed exports through the proxy's own log, once
// when they start failing and once when they work again, instead of the
// SDK's global error handler, which would print every failed batch
// unstructured to stderr. Spans that could not be sent are dropped: tracing
// never holds up or fails a request.
type loggedExporter struct {
	sdktrace.SpanExporter
	log      *slog.Logger
	endpoint string
	failing  atomic.Bool
}

func (e *loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	switch {
	case err != nil && !e.failing.Swap(true):
		e.log.Warn("trace export failing; spans are dropped until the receiver answers",
			slog.String("endpoint", e.endpoint), slog.Int("spans", len(spans)), slog.String("error", err.Error()))
	case err == nil && e.failing.Swap(false):
		e.log.Info("trace export works again", slog.String("endpoint", e.endpoint))
	}
	return nil
}
