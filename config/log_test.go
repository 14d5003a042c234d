package config

import (
	"strings"
	"testing"
)

func TestLogFormats(t *testing.T) {
	for format, want := range map[string]string{
		LogJSON: "", LogText: "", LogGCP: "",
		"JSON":      `log.format: "JSON" is not a log format: use json, text or gcp`,
		"logfmt":    `log.format: "logfmt" is not a log format`,
		"":          `log.format: "" is not a log format`,
		"gcp\njson": "is not a log format",
	} {
		l := Default().Log
		l.Format = format
		var p problems
		l.validate(&p)
		got := strings.Join(p, "\n")
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("format %q: problems %q, want %q", format, got, want)
		}
	}
}
