package config

import (
	"net/url"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

const redacted = "REDACTED"

// Redacted renders the effective configuration as YAML with every secret
// replaced, for check-config and debugging. Besides the fields tagged
// secret, credentials in the user info of any URL-valued string are
// replaced, so a key added later cannot leak them either.
func (c *Config) Redacted() ([]byte, error) {
	cp := *c
	cp.Session.Keys = nil
	redact(reflect.ValueOf(&cp).Elem())
	return yaml.Marshal(&cp)
}

// redact edits v, a shallow copy of the caller's config: strings and nested
// structs are its own, but slices and maps are shared with the original, so
// those are replaced rather than written into.
func redact(v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		secret := f.Tag.Get("secret") == "true"
		switch {
		case secret && fv.Kind() == reflect.String && fv.Len() > 0:
			fv.SetString(redacted)
		case secret && fv.Kind() == reflect.Slice && fv.Len() > 0:
			out := reflect.MakeSlice(fv.Type(), fv.Len(), fv.Len())
			for j := 0; j < fv.Len(); j++ {
				out.Index(j).SetString(redacted)
			}
			fv.Set(out)
		case fv.Kind() == reflect.String:
			fv.SetString(redactURL(fv.String()))
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String && fv.Len() > 0:
			out := reflect.MakeSlice(fv.Type(), fv.Len(), fv.Len())
			for j := 0; j < fv.Len(); j++ {
				out.Index(j).SetString(redactURL(fv.Index(j).String()))
			}
			fv.Set(out)
		case fv.Kind() == reflect.Map && fv.Type().Elem().Kind() == reflect.String && fv.Len() > 0:
			out := reflect.MakeMapWithSize(fv.Type(), fv.Len())
			for it := fv.MapRange(); it.Next(); {
				out.SetMapIndex(it.Key(), reflect.ValueOf(redactURL(it.Value().String())).Convert(fv.Type().Elem()))
			}
			fv.Set(out)
		case fv.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)):
			redact(fv)
		}
	}
}

// redactURL replaces the password of a URL's user info (as url.Redacted
// does for the serve log) and also a user name that stands alone, which is
// how many services take an API token ("https://TOKEN@host"). Anything that
// is not a URL with user info is returned as it is.
func redactURL(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		// "https://u:p#w@host" does not parse, yet its text holds the
		// password; the whole value is the only safe thing to hide.
		return redacted
	}
	if u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
	} else {
		u.User = url.User(redacted)
	}
	return u.String()
}
