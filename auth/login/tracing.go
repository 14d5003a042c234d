package login

import (
	"context"
	"errors"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
)

// tracerName is this package's instrumentation scope.
const tracerName = "github.com/lcw-auth-proxy/lcw-auth-proxy/auth/login"

// noEnd is what span returns with tracing off: shared, so the off path
// allocates nothing.
var noEnd = func(error) {}

// span starts a child span of ctx when tracing is on and returns the
// context that carries it and the function that ends it, recording err.
// The IdP's URLs are recorded by host only: their queries and bodies carry
// codes, verifiers and tokens.
func (rp *RP) span(ctx context.Context, name string, kind trace.SpanKind, endpoint string) (context.Context, func(error)) {
	if rp.tracer == nil {
		return ctx, noEnd
	}
	var attrs []attribute.KeyValue
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		attrs = append(attrs, semconv.ServerAddress(u.Hostname()))
	}
	ctx, s := rp.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			s.SetStatus(codes.Error, spanError(err))
		}
		s.End()
	}
}

// spanError describes a failure for a span. An oauth2.RetrieveError's own
// text quotes the token endpoint's response body, which is no place to
// copy from; its status and error code say what went wrong. Other errors
// (go-oidc's checks, transport failures) name the failure, not the token.
func spanError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := "token endpoint refused"
		if re.Response != nil {
			msg += " with " + strconv.Itoa(re.Response.StatusCode)
		}
		if re.ErrorCode != "" {
			msg += ": " + sanitizeCode(re.ErrorCode)
		}
		return msg
	}
	return err.Error()
}
