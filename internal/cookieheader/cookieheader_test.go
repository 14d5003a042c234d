package cookieheader

import (
	"reflect"
	"strings"
	"testing"
)

func TestPairs(t *testing.T) {
	var got []Pair
	for p := range Pairs(` a=1;b = "two" ; ;bare;c=;=nameless; d=x=y `) {
		got = append(got, p)
	}
	want := []Pair{
		{Name: "a", Value: "1", Raw: "a=1", HasValue: true},
		{Name: "b ", Value: "two", Raw: `b = "two"`, HasValue: true},
		{Name: "bare", Raw: "bare"},
		{Name: "c", Raw: "c=", HasValue: true},
		{Name: "", Value: "nameless", Raw: "=nameless", HasValue: true},
		{Name: "d", Value: "x=y", Raw: "d=x=y", HasValue: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Pairs:\n got %+v\nwant %+v", got, want)
	}
}

func TestPairsAllocatesNothing(t *testing.T) {
	line := "site=1; _lcw=2.abc; _lcw_1=def; other=\"q\""
	n := testing.AllocsPerRun(100, func() {
		for p := range Pairs(line) {
			_ = p
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per scan", n)
	}
}

func FuzzPairs(f *testing.F) {
	f.Add("a=1; b=2;;c")
	f.Fuzz(func(t *testing.T, line string) {
		for p := range Pairs(line) {
			if p.Raw == "" || p.Raw != strings.TrimSpace(p.Raw) || !strings.Contains(line, p.Raw) || !strings.HasPrefix(p.Raw, p.Name) {
				t.Fatalf("pair %+v of %q", p, line)
			}
		}
	})
}
