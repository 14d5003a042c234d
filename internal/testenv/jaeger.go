package testenv

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// JaegerVersion is the Jaeger `make jaeger` builds (Jaeger v2, the
// OpenTelemetry Collector based all-in-one, from the Go module proxy).
const JaegerVersion = "v1.76.0"

// Jaeger is a real Jaeger all-in-one with in-memory storage on loopback
// ports, owned by one test: an OTLP receiver (HTTP and gRPC) and the query
// API that the UI uses.
type Jaeger struct {
	OTLPHTTP string // http://127.0.0.1:port, the OTLP/HTTP receiver's base URL
	OTLPGRPC string // http://127.0.0.1:port, the OTLP/gRPC receiver
	Query    string // http://127.0.0.1:port, the query API (/api/traces)
	dir      string
}

// jaegerPath finds the binary: $JAEGER, else where `make jaeger` puts it.
func jaegerPath(t testing.TB) string {
	t.Helper()
	candidates := []string{os.Getenv("JAEGER")}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".cache", "lcw-auth-proxy", "jaeger-"+JaegerVersion, "jaeger"))
	}
	return Tool(t, "jaeger binary ($JAEGER or ~/.cache/lcw-auth-proxy/jaeger-"+JaegerVersion+")",
		"`make jaeger` builds it (several minutes, once)", candidates...)
}

// StartJaeger starts Jaeger with every listener on a free loopback port
// and stops it when the test ends. It skips without the binary, except
// under CI=true.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	bin := jaegerPath(t)
	// A chosen port can still be taken by another test binary before
	// Jaeger binds it: try again with new ports.
	for attempt := 1; ; attempt++ {
		j, err := startJaeger(t, bin)
		if err == nil {
			return j
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
}

func startJaeger(t testing.TB, bin string) (*Jaeger, error) {
	t.Helper()
	j := &Jaeger{dir: t.TempDir()}
	httpPort, grpcPort, queryPort, queryGRPC := freePort(t), freePort(t), freePort(t), freePort(t)
	j.OTLPHTTP = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	j.OTLPGRPC = fmt.Sprintf("http://127.0.0.1:%d", grpcPort)
	j.Query = fmt.Sprintf("http://127.0.0.1:%d", queryPort)
	// Only the OTLP receiver and the query extension: no metrics
	// listener, health check or other receivers on fixed ports.
	cfg := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
      grpc:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 50ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`, queryPort, queryGRPC, httpPort, grpcPort)
	path := filepath.Join(j.dir, "jaeger.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(j.dir, "jaeger.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start jaeger: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		logf.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("jaeger log:\n%s", out)
		}
	})
	for _, addr := range []string{j.OTLPHTTP, j.OTLPGRPC, j.Query} {
		if err := waitListening(addr, 30*time.Second, done); err != nil {
			out, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("testenv: jaeger did not listen on %s: %v\n%s", addr, err, out)
		}
	}
	return j, nil
}

// waitListening waits until something accepts connections at base's host,
// failing early when the server process has exited.
func waitListening(base string, limit time.Duration, exited <-chan struct{}) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the server exited")
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// JaegerSpan is a span as Jaeger's query API returns it.
type JaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

// Tag returns the value of tag key as text ("" when absent).
func (s JaegerSpan) Tag(key string) string {
	for _, tg := range s.Tags {
		if tg.Key == key {
			switch v := tg.Value.(type) {
			case string:
				return v
			case float64:
				return strconv.FormatFloat(v, 'f', -1, 64)
			default:
				return fmt.Sprint(v)
			}
		}
	}
	return ""
}

// Trace asks the query API (GET /api/traces?service=…) for the traces of
// service until one with traceID arrives, and returns its spans. It waits
// at most limit: receivers batch.
func (j *Jaeger) Trace(t testing.TB, service, traceID string, limit time.Duration) []JaegerSpan {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for {
		resp, err := http.Get(j.Query + "/api/traces?limit=100&lookback=1h&service=" + url.QueryEscape(service))
		if err == nil {
			var body struct {
				Data []struct {
					TraceID string       `json:"traceID"`
					Spans   []JaegerSpan `json:"spans"`
				} `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			last = fmt.Sprintf("status %d, %d traces", resp.StatusCode, len(body.Data))
			for _, tr := range body.Data {
				// Older query APIs drop the leading zeros of an id.
				if strings.TrimLeft(tr.TraceID, "0") == strings.TrimLeft(traceID, "0") {
					return tr.Spans
				}
			}
		}
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: Jaeger has no trace %s of service %q after %s (last answer: %s)", traceID, service, limit, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
