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

// RedactURL is the URL s as it may be printed: the password of its user
// info replaced (as url.Redacted does) and also a user name that stands
// alone, which is how many services take an API token
// ("https://TOKEN@host"). Anything that is not a URL with user info is
// returned as it is. For logs of configured URLs (oidc.issuer).
func RedactURL(s string) string { return redactURL(s) }

func redactURL(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		// "https://u:p#w@host" or "https://u:p@host:port" do not parse,
		// yet their text holds the password: everything that could be
		// user info goes. This also serves text that merely contains a
		// URL (an error quoting it).
		return redactAuthority(s)
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

// redactAuthority replaces everything from the first "://" to the last
// '@' of s: whatever the user info was, and wherever a parser would have
// ended it (at '#', '/' or '?'), it lies in between.
func redactAuthority(s string) string {
	start := strings.Index(s, "://") + len("://")
	at := strings.LastIndexByte(s, '@')
	if at < start {
		return s
	}
	return s[:start] + redacted + s[at:]
}

// redactValue is a configured value as a problem message may quote it:
// redactURL's, and also user info without a scheme ("user:pass@host",
// which url.Parse reads as the scheme "user"), whose value is refused and
// so printed. "name@example.com" has no password and stays.
func redactValue(s string) string {
	if strings.Contains(s, "://") {
		return redactURL(s)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 || !strings.Contains(s[:at], ":") {
		return s
	}
	return redacted + s[at:]
}

// redactArgs returns a problem's format arguments with credentials
// hidden: every message names the value it refuses, and a refused URL is
// as likely as any to carry a password.
func redactArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = redactValue(v)
		case []string:
			vs := make([]string, len(v))
			for j, s := range v {
				vs[j] = redactValue(s)
			}
			out[i] = vs
		case error:
			out[i] = redactURL(v.Error())
		default:
			out[i] = a
		}
	}
	return out
}
