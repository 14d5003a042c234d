package config_test

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// The chart ships deploy/monitoring's files through links in its files/
// folder; these are the originals.
const (
	monitoringDir = "../deploy/monitoring"
	rulesFile     = monitoringDir + "/lcw-auth-proxy.rules.yaml"
	dashboardFile = "lcw-auth-proxy-dashboard.json"
)

// checkPrometheusRule: the rendered PrometheusRule holds exactly the rules
// of deploy/monitoring (whose metric names and promtool tests
// deploy/monitoring's own tests check), with the example's alertLabels
// added to each alert and its own severity kept.
func checkPrometheusRule(t *testing.T, pr *monitoringv1.PrometheusRule) {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := sigsyaml.UnmarshalStrict(data, &want); err != nil {
		t.Fatalf("%s does not decode into a PrometheusRule's spec: %v", rulesFile, err)
	}
	if len(pr.Spec.Groups) != len(want.Groups) {
		t.Fatalf("PrometheusRule has %d groups, %s %d", len(pr.Spec.Groups), rulesFile, len(want.Groups))
	}
	for i, g := range pr.Spec.Groups {
		w := want.Groups[i]
		if g.Name != w.Name || len(g.Rules) != len(w.Rules) {
			t.Errorf("group %s with %d rules, want %s with %d", g.Name, len(g.Rules), w.Name, len(w.Rules))
			continue
		}
		for j, r := range g.Rules {
			wr := w.Rules[j]
			if r.Alert != wr.Alert || r.Expr != wr.Expr || !reflect.DeepEqual(r.For, wr.For) || !reflect.DeepEqual(r.Annotations, wr.Annotations) {
				t.Errorf("rule %s differs from %s's %s", r.Alert, rulesFile, wr.Alert)
			}
			if r.Labels["severity"] != wr.Labels["severity"] || r.Labels["team"] != "shop" {
				t.Errorf("rule %s labels %v: want its severity %q and the example's team: shop", r.Alert, r.Labels, wr.Labels["severity"])
			}
		}
	}
}

// checkDashboardConfigMap: the dashboard ConfigMap carries the file
// unchanged, as JSON, with the label Grafana's sidecar looks for, in the
// namespace it watches.
func checkDashboardConfigMap(t *testing.T, cm *corev1.ConfigMap) {
	t.Helper()
	want, err := os.ReadFile(monitoringDir + "/" + dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	got := cm.Data[dashboardFile]
	if !json.Valid([]byte(got)) || got != string(want) {
		t.Errorf("ConfigMap %s: %s is not deploy/monitoring's dashboard", cm.Name, dashboardFile)
	}
	if cm.Labels["grafana_dashboard"] != "1" || cm.Namespace != "monitoring" || cm.Annotations["grafana_folder"] != "Shop" {
		t.Errorf("ConfigMap %s in %q, labels %v, annotations %v: want grafana_dashboard: \"1\" in monitoring, folder Shop",
			cm.Name, cm.Namespace, cm.Labels, cm.Annotations)
	}
}
