package doctor

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCookieHeader(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	jar := strings.Join([]string{
		"# Netscape HTTP Cookie File",
		"#HttpOnly_shop.example\tFALSE\t/\tTRUE\t0\t__Host-_lcw\tsealed",
		".example\tTRUE\t/\tFALSE\t2100000000\tsite\tyes",
		"shop.example\tFALSE\t/\tFALSE\t1000000000\texpired\tno",
		"other.example\tFALSE\t/\tFALSE\t0\tforeign\tno",
		"shop.example\tFALSE\t/admin\tFALSE\t0\tadmin\tno",
		"shop.example\tFALSE\t/\tTRUE\t0\tsecure\tonly-https",
	}, "\n")
	tests := []struct {
		name, data, page string
		want             string
		wantErr          bool
	}{
		{"a Cookie header value", "_lcw=abc; other=1\n", "https://shop.example/", "_lcw=abc; other=1", false},
		{"with its name", "Cookie: _lcw=abc", "https://shop.example/", "_lcw=abc", false},
		{"cookies.txt, what a browser would send", jar, "https://shop.example/", "__Host-_lcw=sealed; site=yes; secure=only-https", false},
		{"cookies.txt over http leaves secure cookies out", jar, "http://shop.example/", "site=yes", false},
		{"nothing usable", "hello", "https://shop.example/", "", true},
		{"no cookie for the host", "x.example\tFALSE\t/\tFALSE\t0\ta\tb", "https://shop.example/", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, _ := url.Parse(tc.page)
			got, err := CookieHeader([]byte(tc.data), u, now)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("CookieHeader = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
