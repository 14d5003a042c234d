package config

import (
	"strings"
	"testing"
	"time"
)

func TestServerLimitsValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Server)
		want   string // "" = valid
	}{
		{"defaults", func(*Server) {}, ""},
		{"read_timeout off", func(s *Server) { s.ReadTimeout = 0 }, ""},
		{"read_timeout equal to the header timeout", func(s *Server) { s.ReadTimeout = s.ReadHeaderTimeout }, ""},
		{"negative read_timeout", func(s *Server) { s.ReadTimeout = Duration(-time.Second) }, "server.read_timeout: must not be negative"},
		{"read_timeout shorter than the header timeout", func(s *Server) { s.ReadTimeout = Duration(5 * time.Second) },
			"server.read_timeout: 5s is shorter than server.read_header_timeout (10s)"},
		{"max_connections off", func(s *Server) { s.MaxConnections = 0 }, ""},
		{"negative max_connections", func(s *Server) { s.MaxConnections = -1 }, "server.max_connections: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Default().Server
			tt.mutate(&s)
			var p problems
			s.validate(&p)
			got := strings.Join(p, "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Fatalf("problems %q, want %q", got, tt.want)
			}
		})
	}
}
