package token

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/httpspan"
)

// Enricher fetches extra context values for a signed-in user from a trusted
// backend. Only the keys declared in token.context_keys are taken from its
// answer, typed and limited like every other context value.
type Enricher interface {
	Enrich(ctx context.Context, subject string, claims map[string]any) (map[string]any, error)
}

// maxEnrichBody bounds the context_url answer.
const maxEnrichBody = 1 << 20

// HTTPEnricher POSTs {"sub": …, "claims": {…}} as JSON to URL and expects a
// JSON object back. It is a server-to-server call: the browser never sees it.
type HTTPEnricher struct {
	URL     string
	Timeout time.Duration
	// Client defaults to one that does not follow redirects, so the claims
	// are only ever sent to the configured URL.
	Client *http.Client
}

// EnricherFromConfig returns the context_url enricher, or nil when none is
// configured. With tp (tracing on), each call is a client span whose
// traceparent reaches the backend, so its own spans join the token's trace.
func EnricherFromConfig(cfg config.Token, tp trace.TracerProvider) Enricher {
	if cfg.ContextURL == "" {
		return nil
	}
	e := &HTTPEnricher{URL: cfg.ContextURL, Timeout: cfg.ContextTimeout.D()}
	if tp != nil {
		c := *noRedirects
		c.Transport = httpspan.NewTransport(nil, tp, httpspan.Options{Scope: tracerName})
		e.Client = &c
	}
	return e
}

var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Enrich calls the context URL within Timeout.
func (e *HTTPEnricher) Enrich(ctx context.Context, subject string, claims map[string]any) (map[string]any, error) {
	if e.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.Timeout)
		defer cancel()
	}
	body, err := json.Marshal(struct {
		Sub    string         `json:"sub"`
		Claims map[string]any `json:"claims"`
	}{subject, claims})
	if err != nil {
		return nil, fmt.Errorf("encode context_url request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("context_url request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	client := e.Client
	if client == nil {
		client = noRedirects
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("context_url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // let the connection be reused
		return nil, fmt.Errorf("context_url answered %s, want 200 OK with a JSON object", resp.Status)
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxEnrichBody))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("context_url answer is not a JSON object (at most 1 MiB): %w", err)
	}
	if out == nil {
		return nil, errors.New("context_url answered null, want a JSON object")
	}
	return out, nil
}
