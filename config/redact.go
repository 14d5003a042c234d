package config

import (
	"reflect"

	"go.yaml.in/yaml/v3"
)

const redacted = "REDACTED"

// Redacted renders the effective configuration as YAML with every secret
// replaced, for check-config and debugging.
func (c *Config) Redacted() ([]byte, error) {
	cp := *c
	cp.Session.Keys = nil
	redact(reflect.ValueOf(&cp).Elem())
	return yaml.Marshal(&cp)
}

func redact(v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		switch {
		case f.Tag.Get("secret") == "true" && fv.Kind() == reflect.String && fv.Len() > 0:
			fv.SetString(redacted)
		case f.Tag.Get("secret") == "true" && fv.Kind() == reflect.Slice && fv.Len() > 0:
			out := reflect.MakeSlice(fv.Type(), fv.Len(), fv.Len())
			for j := 0; j < fv.Len(); j++ {
				out.Index(j).SetString(redacted)
			}
			fv.Set(out)
		case fv.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)):
			redact(fv)
		}
	}
}
