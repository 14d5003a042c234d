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

func TestLogEmail(t *testing.T) {
	if got := Default().Log.Email; got != LogEmailHash {
		t.Errorf("log.email defaults to %q, want %q: a privacy-conscious default", got, LogEmailHash)
	}
	for email, want := range map[string]string{
		LogEmailHash: "", LogEmailPlain: "", LogEmailOff: "",
		"sha256": `log.email: "sha256" is not a choice: use hash`,
		"":       `log.email: "" is not a choice`,
		"Plain":  `log.email: "Plain" is not a choice`,
	} {
		l := Default().Log
		l.Email = email
		var p problems
		l.validate(&p)
		got := strings.Join(p, "\n")
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("email %q: problems %q, want %q", email, got, want)
		}
	}
}
