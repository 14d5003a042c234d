// Package monitoring_test keeps the alert rules and the Grafana dashboard in
// this folder honest: every metric and label they name is one the proxy
// exports (its real registry, metrics.New), and the alerts pass Prometheus'
// own `promtool test rules`.
package monitoring_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

const (
	rulesFile     = "lcw-auth-proxy.rules.yaml"
	rulesTestFile = "lcw-auth-proxy.rules_test.yaml"
	dashboardFile = "lcw-auth-proxy-dashboard.json"
)

// targetLabels are added by Prometheus when it scrapes (the job, and the
// Prometheus Operator's Kubernetes labels), not by the proxy.
var targetLabels = []string{"job", "instance", "namespace", "pod", "service", "container", "endpoint"}

// series maps every series name the proxy exports (histograms as _bucket,
// _sum and _count) to its label names; nil labels: any (Go and process
// collectors, whose labels the test does not track).
type series map[string][]string

func (s series) add(name string, histogram bool, labels []string) {
	if !histogram {
		s[name] = labels
		return
	}
	s[name+"_bucket"] = append(slices.Clone(labels), "le")
	s[name+"_sum"] = labels
	s[name+"_count"] = labels
}

var descPattern = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

// exported reads the real registry: the lcw_ collectors through their
// descriptions (a vector with no children yet exports nothing, so the
// /metrics output alone would miss it) and every family /metrics serves at
// start (the Go and process collectors).
func exported(t *testing.T) series {
	t.Helper()
	m := metrics.New()
	out := series{}
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			continue // the registry
		}
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if !ok || v.Field(i).IsNil() {
			continue
		}
		histogram := strings.Contains(v.Field(i).Type().String(), "Histogram")
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			match := descPattern.FindStringSubmatch(d.String())
			if match == nil {
				t.Fatalf("cannot read the name from %s", d)
			}
			var labels []string
			if match[2] != "" {
				labels = strings.Split(match[2], ",")
			}
			out.add(match[1], histogram, labels)
		}
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			if _, ok := out[f[2]]; !ok {
				out.add(f[2], f[3] == "histogram", nil)
			}
		}
	}
	if len(out) < 30 || out["lcw_http_requests_total"] == nil || out["go_goroutines"] != nil {
		t.Fatalf("read %d series from the registry (%v): the registry or the Desc format changed", len(out), slices.Sorted(func(yield func(string) bool) {
			for k := range out {
				if !yield(k) {
					return
				}
			}
		}))
	}
	return out
}

// checkExpr parses one PromQL expression and checks that every selector
// names an exported series with labels it has, and that every by/without
// label is one of its selectors'.
func checkExpr(have series, expr string) []string {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var problems []string
	labelsOf := func(n parser.Node) []string {
		all := slices.Clone(targetLabels)
		parser.Inspect(n, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				all = append(all, have[vs.Name]...)
			}
			return nil
		})
		return all
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			labels, ok := have[n.Name]
			if !ok {
				problems = append(problems, fmt.Sprintf("metric %q: the proxy exports no such series", n.Name))
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name != "__name__" && labels != nil && !slices.Contains(labels, m.Name) && !slices.Contains(targetLabels, m.Name) {
					problems = append(problems, fmt.Sprintf("%s has no label %q (it has %v)", n.Name, m.Name, labels))
				}
			}
		case *parser.AggregateExpr:
			known := labelsOf(n.Expr)
			for _, l := range n.Grouping {
				if !slices.Contains(known, l) {
					problems = append(problems, fmt.Sprintf("%s by/without %q: no selector inside has that label", n.Op, l))
				}
			}
		}
		return nil
	})
	return problems
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string            `yaml:"alert"`
			Record string            `yaml:"record"`
			Expr   string            `yaml:"expr"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return f
}

// TestRulesNameExportedMetrics: an alert on a metric the proxy does not
// export never fires; this catches a rename or a typo at once.
func TestRulesNameExportedMetrics(t *testing.T) {
	have := exported(t)
	f := readRules(t)
	n := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			n++
			for _, p := range checkExpr(have, r.Expr) {
				t.Errorf("%s: alert %s: %s", rulesFile, r.Alert, p)
			}
			if sev := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, sev) {
				t.Errorf("%s: alert %s: severity %q, want critical, warning or info", rulesFile, r.Alert, sev)
			}
		}
	}
	if n < 10 {
		t.Fatalf("%s holds %d rules", rulesFile, n)
	}
}

// TestCheckExprCatchesMistakes: the check itself fails on a metric, a label
// and a grouping the proxy does not have.
func TestCheckExprCatchesMistakes(t *testing.T) {
	have := exported(t)
	for expr, want := range map[string]string{
		`rate(lcw_http_request_total[5m])`:                           `"lcw_http_request_total"`,
		`rate(lcw_http_requests_total{status="5xx"}[5m])`:            `no label "status"`,
		`sum by (reason) (rate(lcw_logins_total[5m]))`:               `by/without "reason"`,
		`histogram_quantile(0.9, rate(lcw_tokens_total_bucket[5m]))`: `"lcw_tokens_total_bucket"`,
		`lcw_http_requests_total{`:                                   "does not parse",
	} {
		problems := checkExpr(have, expr)
		if len(problems) == 0 || !strings.Contains(strings.Join(problems, "; "), want) {
			t.Errorf("%s: problems %q, want one mentioning %s", expr, problems, want)
		}
	}
	if p := checkExpr(have, `sum by (namespace, job, route, le) (rate(lcw_http_request_duration_seconds_bucket{code="x"}[5m]))`); len(p) != 1 {
		t.Errorf("a histogram's le and the target labels are known; only code is not: %q", p)
	}
}

// grafanaVariables are the dashboard's variables and Grafana's built-in
// ones, replaced by values PromQL parses before the check.
var grafanaVariables = regexp.MustCompile(`\$\{?(__rate_interval|__interval|__range|[a-z_]+)(:[a-z]+)?\}?`)

func substituteGrafana(expr string) string {
	return grafanaVariables.ReplaceAllStringFunc(expr, func(v string) string {
		if strings.Contains(v, "__") {
			return "5m"
		}
		return "x"
	})
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-z_]+)\)$`)

// dashboardQueries returns every PromQL query in the dashboard: the panels'
// targets (rows included) and the variables' label_values() queries, each
// with where it is.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Panels     []panel
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s: no uid or title", dashboardFile)
	}
	queries := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				queries[fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)] = tg.Expr
			}
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		text, _ := q["query"].(string)
		m := labelValues.FindStringSubmatch(text)
		if m == nil {
			t.Errorf("%s: variable %s: query %v is not label_values(selector, label)", dashboardFile, v.Name, v.Query)
			continue
		}
		// label_values(sel, l) reads label l of sel: the same check as sum by (l) (sel).
		queries["variable "+v.Name] = fmt.Sprintf("count by (%s) (%s)", m[2], m[1])
	}
	return queries
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// TestDashboardNamesExportedMetrics: a panel on a metric the proxy does not
// export stays empty without a word; this test says so instead.
func TestDashboardNamesExportedMetrics(t *testing.T) {
	have := exported(t)
	queries := dashboardQueries(t)
	if len(queries) < 20 {
		t.Fatalf("%s: %d queries", dashboardFile, len(queries))
	}
	used := map[string]bool{}
	for where, expr := range queries {
		e := substituteGrafana(expr)
		for _, p := range checkExpr(have, e) {
			t.Errorf("%s: %s: %s\n\t%s", dashboardFile, where, p, e)
		}
		if parsed, err := parser.NewParser(parser.Options{}).ParseExpr(e); err == nil {
			parser.Inspect(parsed, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					used[vs.Name] = true
				}
				return nil
			})
		}
	}
	// What the issue asks the dashboard to show, by the series that carry it.
	for _, name := range []string{
		"lcw_http_requests_total", "lcw_http_request_duration_seconds_bucket", // rate, errors, latency by route
		"lcw_tokens_total",                                // mint rate and 429s
		"lcw_logins_total",                                // login failures by reason
		"lcw_dependency_up",                               // Redis and IdP up
		"lcw_client_events_total",                         // lcw:error widget reports
		"lcw_client_clock_skew_total",                     // clock skew
		"lcw_injections_total",                            // injection results
		"lcw_session_store_operations_total",              // the store's errors
		"lcw_signing_key_reloads_total", "lcw_build_info", // keys, versions
	} {
		if !used[name] {
			t.Errorf("%s: no panel shows %s", dashboardFile, name)
		}
	}
}

// TestRulesPassPromtool runs Prometheus' own checks: promtool check rules
// (syntax, templates) and promtool test rules (each alert fires on the
// series that should raise it, with its labels and annotations, and not on
// healthy ones). make test installs promtool (Debian's prometheus package);
// without it the test skips on a laptop and fails under CI=true.
func TestRulesPassPromtool(t *testing.T) {
	promtool := testenv.Tool(t, "promtool ($PROMTOOL or PATH)", "make services installs Debian's prometheus package, which has it",
		os.Getenv("PROMTOOL"), "promtool")
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestEveryAlertIsTested: promtool test rules passes for alerts it never
// evaluates, so each alert must have a case that expects it to fire.
func TestEveryAlertIsTested(t *testing.T) {
	data, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				AlertName string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &tests); err != nil {
		t.Fatalf("%s: %v", rulesTestFile, err)
	}
	if !slices.Equal(tests.RuleFiles, []string{rulesFile}) {
		t.Errorf("%s tests %v, want [%s]", rulesTestFile, tests.RuleFiles, rulesFile)
	}
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.AlertName] = true
			}
		}
	}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !fires[r.Alert] {
				t.Errorf("alert %s: no case in %s expects it to fire", r.Alert, rulesTestFile)
			}
		}
	}
}
