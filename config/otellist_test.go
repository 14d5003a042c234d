package config

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestParseOTelList(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want map[string]string
		bad  []int
	}{
		{raw: "", want: map[string]string{}},
		{raw: "  ", want: map[string]string{}},
		{raw: "a=b", want: map[string]string{"a": "b"}},
		{raw: " a = b , c=d ", want: map[string]string{"a": "b", "c": "d"}},
		{raw: "authorization=Bearer%20abc,x-tenant=shop", want: map[string]string{"authorization": "Bearer abc", "x-tenant": "shop"}},
		{raw: "k=%20padded%20", want: map[string]string{"k": " padded "}},
		{raw: "k=a%2Cb,l=1+1", want: map[string]string{"k": "a,b", "l": "1+1"}},
		{raw: "k=a=b", want: map[string]string{"k": "a=b"}},
		{raw: "k=", want: map[string]string{"k": ""}},
		{raw: "k=1,k=2", want: map[string]string{"k": "2"}},
		{raw: "a=b,nothing,=v,c=%zz,d=e,", want: map[string]string{"a": "b", "d": "e"}, bad: []int{2, 3, 4, 6}},
	} {
		var bad []int
		got := parseOTelList(tt.raw, func(n int, _ string) { bad = append(bad, n) })
		if !maps.Equal(got, tt.want) || !slices.Equal(bad, tt.bad) {
			t.Errorf("parseOTelList(%q) = %q, bad entries %v; want %q, %v", tt.raw, got, bad, tt.want, tt.bad)
		}
	}
}

// FuzzParseOTelList: whatever the list, the keys kept are non-empty and
// trimmed, each entry is either kept or reported, and writing the result
// back (values percent-encoded) reads as the same map with nothing
// reported.
func FuzzParseOTelList(f *testing.F) {
	for _, s := range []string{"", "a=b", " a = b , c=d ", "authorization=Bearer%20abc", "k=a%2Cb,l=1+1", "k=%zz", "x,=y,", "k=%e2%82%ac"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		entries := strings.Count(raw, ",") + 1
		nbad := 0
		got := parseOTelList(raw, func(n int, entry string) {
			if n < 1 || n > entries {
				t.Fatalf("bad entry number %d of %d", n, entries)
			}
			nbad++
		})
		if len(got)+nbad > entries {
			t.Fatalf("%d kept and %d reported of %d entries", len(got), nbad, entries)
		}
		var back []string
		for _, k := range slices.Sorted(maps.Keys(got)) {
			if k == "" || k != strings.TrimSpace(k) || strings.ContainsAny(k, ",=") {
				t.Fatalf("key %q kept from %q", k, raw)
			}
			back = append(back, k+"="+url.PathEscape(got[k]))
		}
		again := parseOTelList(strings.Join(back, ","), func(n int, entry string) {
			t.Fatalf("written back, entry %d (%q) is refused", n, entry)
		})
		if !maps.Equal(again, got) {
			t.Fatalf("written back %q reads as %q, want %q", strings.Join(back, ","), again, got)
		}
	})
}
