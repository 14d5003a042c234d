package doctor

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CookieHeader reads a --cookie-file for page: either a Cookie header
// value ("name=value; other=value", with or without "Cookie:"), as copied
// from a browser's developer tools, or a Netscape cookies.txt (as curl -c
// and browser extensions write it), of which it takes the cookies a
// browser would send to page.
func CookieHeader(data []byte, page *url.URL, now time.Time) (string, error) {
	text := strings.TrimSpace(string(data))
	if !strings.Contains(text, "\t") {
		text = strings.TrimSpace(strings.TrimPrefix(text, "Cookie:"))
		if text == "" || !strings.Contains(text, "=") {
			return "", errors.New("the cookie file holds neither a Cookie header (name=value; …) nor cookies.txt lines")
		}
		return text, nil
	}
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimRight(line, "\r")
		// curl marks HttpOnly cookies with this prefix on an otherwise
		// normal line; other # lines are comments.
		line = strings.TrimPrefix(line, "#HttpOnly_")
		f := strings.Split(line, "\t")
		if strings.HasPrefix(line, "#") || len(f) != 7 {
			continue
		}
		domain, path, secure, expires, name, value := strings.ToLower(f[0]), f[2], f[3] == "TRUE", f[4], f[5], f[6]
		host := strings.ToLower(page.Hostname())
		d := strings.TrimPrefix(domain, ".")
		if host != d && !strings.HasSuffix(host, "."+d) {
			continue
		}
		if p := page.Path; path != "/" && p != path && !strings.HasPrefix(p, strings.TrimSuffix(path, "/")+"/") {
			continue
		}
		if secure && page.Scheme != "https" {
			continue
		}
		if sec, err := strconv.ParseInt(expires, 10, 64); err == nil && sec != 0 && time.Unix(sec, 0).Before(now) {
			continue
		}
		out = append(out, name+"="+value)
	}
	if len(out) == 0 {
		return "", errors.New("the cookies.txt holds no unexpired cookie for " + page.Host)
	}
	return strings.Join(out, "; "), nil
}
