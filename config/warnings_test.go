package config

import (
	"net/url"
	"strings"
	"testing"
)

func TestWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, public, listen string
		trusted              []string
		want                 string // "" no warning
	}{
		{"loopback, same port", "http://127.0.0.1:8081", "127.0.0.1:8081", nil, ""},
		{"loopback, all interfaces, same port", "http://127.0.0.1:8081", ":8081", nil, ""},
		{"loopback, port mismatch", "http://127.0.0.1:8081", ":4180", nil, "set listen: 127.0.0.1:8081"},
		{"localhost default port", "http://localhost", "127.0.0.1:4180", nil, "points at port 80"},
		{"loopback URL, listen on another address", "http://127.0.0.1:8081", "10.0.0.5:8081", nil, "is not on loopback"},
		{"a proxy in front may map the port", "http://127.0.0.1:8081", ":4180", []string{"127.0.0.1"}, ""},
		{"https public host: a load balancer maps it", "https://shop.example.com", ":4180", nil, ""},
		{"plain http on a public host", "http://shop.example.com", ":4180", nil, "plain http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, _ := url.Parse(tc.public)
			c := &Config{PublicURL: tc.public, Public: u, Listen: tc.listen, TrustedProxies: tc.trusted}
			got := strings.Join(c.Warnings(), "\n")
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("warnings %q, want one containing %q", got, tc.want)
			}
		})
	}
}
