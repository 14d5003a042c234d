package tracing

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

func export(t *testing.T, endpoint string) config.TracingExport {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return config.TracingExport{
		On: true, Protocol: config.ProtocolHTTP, Endpoint: u,
		Headers: map[string]string{"X-Api-Key": "from-config"}, Timeout: 2 * time.Second, Compression: "none",
		ParentBased: true, Ratio: 1, ServiceName: "svc",
		BatchDelay: time.Hour, BatchTimeout: 2 * time.Second, QueueSize: 16, BatchSize: 16,
	}
}

// The exporter is given every setting explicitly: what config resolved
// reaches the receiver, and the process's own OTEL_* variables (which the
// exporter package would otherwise read itself) do not.
func TestExporterTakesSettingsFromConfigNotTheProcess(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "X-Api-Key=from-process")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://192.0.2.1:4318/elsewhere")
	var mu sync.Mutex
	var gotPath, gotKey string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		gotPath, gotKey = r.URL.Path, r.Header.Get("X-Api-Key")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	tp, err := New(context.Background(), export(t, srv.URL+"/custom/v1/traces"), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "one")
	span.End()
	// The batch delay is an hour: only the shutdown's flush sends it.
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotPath != "/custom/v1/traces" || gotKey != "from-config" {
		t.Errorf("receiver got path %q key %q; want /custom/v1/traces and the configured key", gotPath, gotKey)
	}
}

// A receiver that is down is logged once, not once per batch, and a
// request never sees the failure.
func TestExportFailureLoggedOnce(t *testing.T) {
	addr := testenv.ClosedAddr(t) // nothing listens there
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	e := export(t, "http://"+addr+"/v1/traces")
	e.Timeout = 200 * time.Millisecond
	tp, err := New(context.Background(), e, "test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	for range 3 {
		_, span := tp.Tracer("test").Start(context.Background(), "lost")
		span.End()
		if err := tp.ForceFlush(context.Background()); err != nil {
			t.Fatalf("ForceFlush reported %v; a failed export is the log's business, not the caller's", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "trace export failing"); n != 1 {
		t.Errorf("%d failure lines, want 1:\n%s", n, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
