package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const tracingBase = `public_url: http://127.0.0.1:4180
upstream: {url: "http://127.0.0.1:8080"}
oidc: {issuer: "https://idp.example.com", client_id: c}
session: {secret: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
`

// loadTracing loads the base config plus yaml with env as the whole
// environment: nothing of the test process's own environment is read.
func loadTracing(t *testing.T, yaml string, env map[string]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(key, []byte("placeholder: read by auth/keys"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.yaml")
	body := tracingBase + "token: {issuer: shop.example.com, signing_keys: [{file: \"" + key + "\"}]}\n" + yaml
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, func(k string) string { return env[k] })
}

// Tracing is off unless the config or an endpoint variable turns it on;
// OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none turn it off; the
// OTEL_* environment wins over the tracing keys.
func TestTracingResolution(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		env      map[string]string
		on       bool
		protocol string
		endpoint string
		ratio    float64
		parent   bool
		service  string
	}{
		{name: "off by default", on: false},
		{name: "OTEL vars alone leave it off", env: map[string]string{"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "bogus"}, on: false},
		{name: "config turns it on with the local default",
			yaml: "tracing: {enabled: true}\n",
			on:   true, protocol: "http/protobuf", endpoint: "http://localhost:4318/v1/traces", ratio: 1, parent: true, service: "lcw-auth-proxy"},
		{name: "config keys",
			yaml: "tracing: {enabled: true, endpoint: \"https://collector:4318/base/\", sample_ratio: 0.25, service_name: shop-proxy}\n",
			on:   true, protocol: "http/protobuf", endpoint: "https://collector:4318/base/v1/traces", ratio: 0.25, parent: true, service: "shop-proxy"},
		{name: "grpc from config",
			yaml: "tracing: {enabled: true, protocol: grpc}\n",
			on:   true, protocol: "grpc", endpoint: "http://localhost:4317", ratio: 1, parent: true, service: "lcw-auth-proxy"},
		{name: "the generic endpoint variable turns it on",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"},
			on:  true, protocol: "http/protobuf", endpoint: "http://otel:4318/v1/traces", ratio: 1, parent: true, service: "lcw-auth-proxy"},
		{name: "the traces endpoint is taken as written",
			env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://otel:4318/custom"},
			on:  true, protocol: "http/protobuf", endpoint: "http://otel:4318/custom", ratio: 1, parent: true, service: "lcw-auth-proxy"},
		{name: "environment wins over every key",
			yaml: "tracing: {enabled: true, endpoint: \"http://file:4318\", protocol: http/protobuf, sample_ratio: 0.5, service_name: from-file}\n",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://generic:4317",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4317",
				"OTEL_EXPORTER_OTLP_PROTOCOL":        "http/protobuf",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
				"OTEL_TRACES_SAMPLER":                "traceidratio",
				"OTEL_TRACES_SAMPLER_ARG":            "0.1",
				"OTEL_SERVICE_NAME":                  "from-env",
			},
			on: true, protocol: "grpc", endpoint: "http://traces:4317", ratio: 0.1, parent: false, service: "from-env"},
		{name: "service.name in the resource attributes",
			yaml: "tracing: {enabled: true, service_name: from-file}\n",
			env:  map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=from%20resource,deployment.environment=prod"},
			on:   true, protocol: "http/protobuf", endpoint: "http://localhost:4318/v1/traces", ratio: 1, parent: true, service: "from resource"},
		{name: "always_off is ratio 0",
			yaml: "tracing: {enabled: true}\n",
			env:  map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_always_off"},
			on:   true, protocol: "http/protobuf", endpoint: "http://localhost:4318/v1/traces", ratio: 0, parent: true, service: "lcw-auth-proxy"},
		{name: "OTEL_SDK_DISABLED wins over everything",
			yaml: "tracing: {enabled: true}\n",
			env:  map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"},
			on:   false},
		{name: "OTEL_TRACES_EXPORTER=none",
			yaml: "tracing: {enabled: true}\n",
			env:  map[string]string{"OTEL_TRACES_EXPORTER": "none"},
			on:   false},
		{name: "LCW_TRACING_ENABLED",
			env: map[string]string{"LCW_TRACING_ENABLED": "true"},
			on:  true, protocol: "http/protobuf", endpoint: "http://localhost:4318/v1/traces", ratio: 1, parent: true, service: "lcw-auth-proxy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadTracing(t, tt.yaml, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			e := cfg.Tracing.Export
			if e.On != tt.on {
				t.Fatalf("On = %v, want %v", e.On, tt.on)
			}
			if !tt.on {
				return
			}
			if e.Protocol != tt.protocol || e.Endpoint.String() != tt.endpoint || e.Ratio != tt.ratio || e.ParentBased != tt.parent || e.ServiceName != tt.service {
				t.Errorf("got %s %s ratio %v parent %v service %q; want %s %s ratio %v parent %v service %q",
					e.Protocol, e.Endpoint, e.Ratio, e.ParentBased, e.ServiceName, tt.protocol, tt.endpoint, tt.ratio, tt.parent, tt.service)
			}
		})
	}
}

// What the exporter packages would read from the process environment
// themselves is read here, through getenv, and handed over explicitly.
func TestTracingExporterSettingsFromEnvironment(t *testing.T) {
	cfg, err := loadTracing(t, "tracing: {enabled: true}\n", map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS":        "authorization=Bearer%20abc,x-tenant=shop",
		"OTEL_EXPORTER_OTLP_TIMEOUT":        "2500",
		"OTEL_EXPORTER_OTLP_COMPRESSION":    "gzip",
		"OTEL_BSP_SCHEDULE_DELAY":           "100",
		"OTEL_BSP_MAX_QUEUE_SIZE":           "64",
		"OTEL_BSP_MAX_EXPORT_BATCH_SIZE":    "128",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Tracing.Export
	if e.Headers["authorization"] != "Bearer abc" || e.Headers["x-tenant"] != "shop" || len(e.Headers) != 2 {
		t.Errorf("Headers = %v", e.Headers)
	}
	if e.Timeout != 2500*time.Millisecond || e.Compression != "gzip" || e.BatchDelay != 100*time.Millisecond {
		t.Errorf("Timeout %v Compression %q BatchDelay %v", e.Timeout, e.Compression, e.BatchDelay)
	}
	if e.QueueSize != 64 || e.BatchSize != 64 {
		t.Errorf("QueueSize %d BatchSize %d, want 64 64 (a batch never exceeds the queue)", e.QueueSize, e.BatchSize)
	}
}

func TestTracingProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{"ratio out of range", "tracing: {sample_ratio: 1.5}\n", nil, []string{"tracing.sample_ratio: 1.5 must be from 0 to 1"}},
		{"protocol", "tracing: {protocol: http/json}\n", nil, []string{`tracing.protocol: "http/json" is not supported`}},
		{"endpoint without scheme, even while off", "tracing: {endpoint: \"collector:4318\"}\n", nil, []string{`tracing.endpoint: "collector:4318" must be an http or https URL`}},
		{"empty service name", "tracing: {service_name: \"\"}\n", nil, []string{"tracing.service_name: must not be empty"}},
		{"env protocol", "tracing: {enabled: true}\n", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, []string{`OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL: "http/json" is not supported`}},
		{"env endpoint", "", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "otel:4317"}, []string{`environment OTEL_EXPORTER_OTLP_ENDPOINT: "otel:4317" must be an http or https URL`}},
		{"sampler", "tracing: {enabled: true}\n", map[string]string{"OTEL_TRACES_SAMPLER": "xray"}, []string{`OTEL_TRACES_SAMPLER: "xray" is not supported`}},
		{"sampler arg", "tracing: {enabled: true}\n", map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, []string{`OTEL_TRACES_SAMPLER_ARG: "half" must be a number from 0 to 1`}},
		{"exporter", "tracing: {enabled: true}\n", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, []string{`OTEL_TRACES_EXPORTER: "zipkin" is not supported`}},
		{"timeout", "tracing: {enabled: true}\n", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "10s"}, []string{`environment OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "10s" must be a positive whole number of milliseconds`}},
		{"certificate", "tracing: {enabled: true}\n", map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, []string{"environment OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read /nonexistent/ca.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadTracing(t, tt.yaml, tt.env)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

// Header values are credentials: a malformed list is reported without them.
func TestTracingHeadersNeverEchoed(t *testing.T) {
	_, err := loadTracing(t, "tracing: {enabled: true}\n", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer s3cr3t,garbage-without-equals-s3cr3t"})
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("the error shows a header value: %v", err)
	}
}
