package metrics

import (
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfo(t *testing.T) {
	m := New()
	m.RecordBuild("")
	m.RecordBuild("v1.2.3")
	if n := testutil.CollectAndCount(m.BuildInfo); n != 1 {
		t.Fatalf("%d lcw_build_info series, want exactly one", n)
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	want := `lcw_build_info{goversion="` + runtime.Version() + `",revision=`
	if !strings.Contains(w.Body.String(), want) || !strings.Contains(w.Body.String(), `version="v1.2.3"} 1`) {
		t.Fatalf("scrape lacks %s…version=\"v1.2.3\"} 1:\n%s", want, w.Body)
	}
}

func TestDependencyUp(t *testing.T) {
	m := New()
	m.SetDependency("redis", true)
	m.SetDependency("idp", false)
	if up, down := testutil.ToFloat64(m.DependencyUp.WithLabelValues("redis")), testutil.ToFloat64(m.DependencyUp.WithLabelValues("idp")); up != 1 || down != 0 {
		t.Fatalf("redis %v idp %v", up, down)
	}
	m.SetDependency("redis", false)
	if v := testutil.ToFloat64(m.DependencyUp.WithLabelValues("redis")); v != 0 {
		t.Fatalf("redis after going down: %v", v)
	}
}
