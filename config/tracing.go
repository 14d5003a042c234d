package config

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Tracing configures OpenTelemetry tracing, off by default. The standard
// OTEL_* environment variables win over these keys: they are how
// platforms (the OpenTelemetry Operator, a collector sidecar's manifest)
// point every program of a pod at the same receiver, and a file written
// for one environment should not have to be edited for another. The
// resolved settings are in Export.
type Tracing struct {
	// Enabled turns tracing on. OTEL_EXPORTER_OTLP_ENDPOINT or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT turn it on too; OTEL_SDK_DISABLED=true
	// or OTEL_TRACES_EXPORTER=none turn it off whatever is set here.
	Enabled bool `yaml:"enabled"`
	// Endpoint is the OTLP receiver's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT:
	// http(s)://host:port; with http/protobuf, /v1/traces is appended.
	// Empty: http://localhost:4318 (http/protobuf) or :4317 (grpc).
	Endpoint string `yaml:"endpoint"`
	// Protocol is http/protobuf or grpc.
	Protocol string `yaml:"protocol"`
	// SampleRatio is the share of new traces recorded (0 to 1); a request
	// that comes with a trace from a trusted proxy follows that trace's
	// decision (parent-based sampling).
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `yaml:"service_name"`

	// Export is what the exporter and the SDK get: these keys with the
	// OTEL_* environment applied.
	Export TracingExport `yaml:"-"`
}

// Tracing protocols.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// TracingExport is the effective tracing setup. Every value the exporter
// packages or the SDK would otherwise read from the process environment
// themselves is here, so they can be handed over explicitly and the
// environment is only ever read through Load's getenv.
type TracingExport struct {
	On       bool
	Protocol string
	// Endpoint is the full URL: for http/protobuf including the path the
	// spans are posted to; for grpc scheme, host and port. Its scheme says
	// whether TLS is used.
	Endpoint    *url.URL
	Headers     map[string]string // from OTEL_EXPORTER_OTLP_(TRACES_)HEADERS; may hold credentials
	Timeout     time.Duration
	Compression string      // gzip or none
	TLS         *tls.Config // nil: the system's roots
	// Sampling: Ratio of new traces; ParentBased follows a remote parent's
	// decision.
	ParentBased bool
	Ratio       float64
	ServiceName string
	// Resource holds OTEL_RESOURCE_ATTRIBUTES.
	Resource map[string]string
	// Batch span processor (OTEL_BSP_*).
	BatchDelay, BatchTimeout time.Duration
	QueueSize, BatchSize     int
}

// otelEnv names the variables read, in one place, for the README and the
// tests.
const (
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envSampler        = "OTEL_TRACES_SAMPLER"
	envSamplerArg     = "OTEL_TRACES_SAMPLER_ARG"
	envServiceName    = "OTEL_SERVICE_NAME"
	envResource       = "OTEL_RESOURCE_ATTRIBUTES"
)

// provision resolves Export. When tracing ends up off, the rest of the
// OTEL_* environment is not looked at: it may be meant for another program
// in the same pod, and off must behave exactly as before tracing existed.
func (t *Tracing) provision(p *problems, getenv func(string) string) {
	e := &t.Export
	e.On = t.Enabled || getenv(envEndpoint) != "" || getenv(envTracesEndpoint) != ""
	if strings.EqualFold(strings.TrimSpace(getenv(envSDKDisabled)), "true") {
		e.On = false
	}
	exporter := strings.TrimSpace(getenv(envTracesExporter))
	if exporter == "none" {
		e.On = false
	}
	if !e.On {
		return
	}
	if exporter != "" && exporter != "otlp" {
		p.add("environment "+envTracesExporter, "%q is not supported: use otlp (the default) or none", exporter)
	}
	e.ServiceName = t.ServiceName
	e.ParentBased, e.Ratio = true, t.SampleRatio
	e.Protocol = t.Protocol
	if _, v := firstEnvName(getenv, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"); v != "" {
		e.Protocol = v
		if v != ProtocolHTTP && v != ProtocolGRPC {
			p.add("environment OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL", "%q is not supported: use %s (the default) or %s", v, ProtocolHTTP, ProtocolGRPC)
			return
		}
	}
	if e.Protocol != ProtocolHTTP && e.Protocol != ProtocolGRPC {
		return // validate reports tracing.protocol
	}
	e.Endpoint = t.endpoint(p, getenv, e.Protocol)

	e.Headers = parseHeaders(p, getenv, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
	e.Timeout = envMillis(p, getenv, 10*time.Second, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
	switch _, c := firstEnvName(getenv, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"); c {
	case "", "none":
		e.Compression = "none"
	case "gzip":
		e.Compression = "gzip"
	default:
		p.add("environment OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION", "%q is not supported: use gzip or none", c)
	}
	e.TLS = tracingTLS(p, getenv)

	if s := strings.TrimSpace(getenv(envSampler)); s != "" {
		e.ParentBased, e.Ratio = sampler(p, s, getenv(envSamplerArg))
	}
	e.Resource = parseResource(p, getenv(envResource))
	if v := e.Resource["service.name"]; v != "" {
		e.ServiceName = v
	}
	if v := strings.TrimSpace(getenv(envServiceName)); v != "" {
		e.ServiceName = v
	}

	e.BatchDelay = envMillis(p, getenv, 5*time.Second, "OTEL_BSP_SCHEDULE_DELAY")
	e.BatchTimeout = envMillis(p, getenv, 30*time.Second, "OTEL_BSP_EXPORT_TIMEOUT")
	e.QueueSize = envPositive(p, getenv, 2048, "", "OTEL_BSP_MAX_QUEUE_SIZE")
	e.BatchSize = envPositive(p, getenv, 512, "", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
	if e.BatchSize > e.QueueSize {
		e.BatchSize = e.QueueSize // as the SDK does
	}
}

// endpoint resolves the receiver's URL: the traces variable as it is
// written, else the generic variable or tracing.endpoint as a base URL
// (with /v1/traces appended for http/protobuf, as the specification says),
// else the protocol's local default.
func (t *Tracing) endpoint(p *problems, getenv func(string) string, protocol string) *url.URL {
	raw, key, base := strings.TrimSpace(getenv(envTracesEndpoint)), "environment "+envTracesEndpoint, false
	if raw == "" {
		raw, key, base = strings.TrimSpace(getenv(envEndpoint)), "environment "+envEndpoint, true
	}
	if raw == "" {
		raw, key, base = t.Endpoint, "tracing.endpoint", true
	}
	if raw == "" {
		raw = "http://localhost:4318"
		if protocol == ProtocolGRPC {
			raw = "http://localhost:4317"
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		if key != "tracing.endpoint" { // validate reports the key, on or off
			p.add(key, "%q must be an http or https URL such as http://otel-collector:4318 (the scheme says whether TLS is used)", redactURL(raw))
		}
		return nil
	}
	if protocol == ProtocolHTTP && base {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u
}

// firstEnvName returns the first of names that is set (not blank) and its
// trimmed value.
func firstEnvName(getenv func(string) string, names ...string) (string, string) {
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return n, v
		}
	}
	return "", ""
}

func envMillis(p *problems, getenv func(string) string, def time.Duration, names ...string) time.Duration {
	ms := envPositive(p, getenv, int(def/time.Millisecond), " of milliseconds", names...)
	return time.Duration(ms) * time.Millisecond
}

// envPositive reads the first of names that is set as a positive whole
// number (of unit, for the problem's wording), else def.
func envPositive(p *problems, getenv func(string) string, def int, unit string, names ...string) int {
	name, v := firstEnvName(getenv, names...)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		p.add("environment "+name, "%q must be a positive whole number"+unit, v)
		return def
	}
	return n
}

// parseHeaders reads the first of names that is set as an OTEL_* list.
// The values are never echoed in a problem: they are usually credentials.
func parseHeaders(p *problems, getenv func(string) string, names ...string) map[string]string {
	name, raw := firstEnvName(getenv, names...)
	return parseOTelList(raw, func(n int, _ string) {
		p.add("environment "+name, "entry %d is not key=value (values percent-encoded); the value is not shown here because headers usually carry credentials", n)
	})
}

// parseResource reads OTEL_RESOURCE_ATTRIBUTES, an OTEL_* list.
func parseResource(p *problems, raw string) map[string]string {
	return parseOTelList(raw, func(n int, entry string) {
		p.add("environment "+envResource, "entry %d (%q) is not key=value with a percent-encoded value", n, entry)
	})
}

// parseOTelList reads a list of key=value pairs in the form the
// OpenTelemetry specification gives OTEL_EXPORTER_OTLP_(TRACES_)HEADERS and
// OTEL_RESOURCE_ATTRIBUTES (W3C Baggage without properties): entries
// separated by commas; blanks around a key and around a value dropped;
// the value, after that, percent-decoded (so %20 keeps a space, %2C a
// comma, and '+' stays a plus); the key taken as written. An entry without
// '=', with an empty key or with a malformed escape is left out and handed
// to bad with its 1-based number. A blank list is empty; a later key wins.
func parseOTelList(raw string, bad func(n int, entry string)) map[string]string {
	out := map[string]string{}
	if strings.TrimSpace(raw) == "" {
		return out
	}
	for i, entry := range strings.Split(raw, ",") {
		k, v, ok := strings.Cut(entry, "=")
		k = strings.TrimSpace(k)
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if !ok || k == "" || err != nil {
			bad(i+1, entry)
			continue
		}
		out[k] = val
	}
	return out
}

// sampler maps the standard OTEL_TRACES_SAMPLER names onto a ratio and
// whether a remote parent's decision is followed: always_on is ratio 1,
// always_off ratio 0.
func sampler(p *problems, name, arg string) (parentBased bool, ratio float64) {
	ratio = 1
	if strings.HasSuffix(name, "traceidratio") && strings.TrimSpace(arg) != "" {
		r, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
		if err != nil || r < 0 || r > 1 {
			p.add("environment "+envSamplerArg, "%q must be a number from 0 to 1", arg)
		} else {
			ratio = r
		}
	}
	switch name {
	case "always_on", "parentbased_always_on":
		ratio = 1
	case "always_off", "parentbased_always_off":
		ratio = 0
	case "traceidratio", "parentbased_traceidratio":
	default:
		p.add("environment "+envSampler, "%q is not supported: use always_on, always_off, traceidratio or their parentbased_ forms", name)
	}
	return strings.HasPrefix(name, "parentbased_"), ratio
}

// tracingTLS builds the exporter's TLS configuration from the certificate
// variables; nil (the system's roots) without them.
func tracingTLS(p *problems, getenv func(string) string) *tls.Config {
	caName, ca := firstEnvName(getenv, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE")
	certName, cert := firstEnvName(getenv, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")
	_, key := firstEnvName(getenv, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY")
	if ca == "" && cert == "" && key == "" {
		return nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	tc.RootCAs = readCAFile(p, "environment "+caName, ca, "")
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			p.add("environment "+certName, "cannot load the client certificate %q with key %q (set both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY): %v", cert, key, err)
		} else {
			tc.Certificates = []tls.Certificate{pair}
		}
	}
	return tc
}

// validate checks the keys whether or not tracing is on, so turning it on
// later through the environment cannot surface a mistake made long ago.
func (t *Tracing) validate(p *problems) {
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		p.add("tracing.sample_ratio", "%v must be from 0 to 1 (1 records every new trace)", t.SampleRatio)
	}
	if strings.TrimSpace(t.ServiceName) == "" {
		p.add("tracing.service_name", "must not be empty (default %s)", Default().Tracing.ServiceName)
	}
	if t.Protocol != ProtocolHTTP && t.Protocol != ProtocolGRPC {
		p.add("tracing.protocol", "%q is not supported: use %s (the default) or %s", t.Protocol, ProtocolHTTP, ProtocolGRPC)
	}
	if t.Endpoint != "" {
		if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			p.add("tracing.endpoint", "%q must be an http or https URL such as http://otel-collector:4318 (the scheme says whether TLS is used)", redactURL(t.Endpoint))
		}
	}
}

// String is for logs: where spans go, without headers.
func (e TracingExport) String() string {
	if !e.On {
		return "off"
	}
	return fmt.Sprintf("%s %s", e.Protocol, e.Endpoint.Redacted())
}
