package contact

import (
	"errors"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// A value is one OData string literal whatever it holds: quotes are
// doubled, so no value can close the literal and add a clause; what no
// honest claim holds is refused before anything is sent.
func TestFilter(t *testing.T) {
	for _, tt := range []struct {
		name, column, value, want string
		bad                       bool
	}{
		{"email", "emailaddress1", "ann@example.com", "emailaddress1 eq 'ann@example.com' and statecode eq 0", false},
		{"a quote is doubled", "emailaddress1", "o'brien@example.com", "emailaddress1 eq 'o''brien@example.com' and statecode eq 0", false},
		{"an injection stays text", "emailaddress1", "x' or emailaddress1 ne 'y", "emailaddress1 eq 'x'' or emailaddress1 ne ''y' and statecode eq 0", false},
		{"the active-state clause cannot be closed off", "emailaddress1", "a') or (statecode eq 1", "emailaddress1 eq 'a'') or (statecode eq 1' and statecode eq 0", false},
		{"custom column", "cr123_customernumber", "C-1001", "cr123_customernumber eq 'C-1001' and statecode eq 0", false},
		{"non-ASCII", "emailaddress1", "jürgen@example.de", "emailaddress1 eq 'jürgen@example.de' and statecode eq 0", false},
		{"empty", "emailaddress1", "", "", true},
		{"blank", "emailaddress1", "  ", "", true},
		{"newline", "emailaddress1", "a@b.c\n", "", true},
		{"NUL", "emailaddress1", "a\x00b", "", true},
		{"invalid UTF-8", "emailaddress1", "a\xffb", "", true},
		{"too long", "emailaddress1", strings.Repeat("a", MaxValueLen+1), "", true},
		{"column with a clause", "emailaddress1 eq 'x' or contactid", "x", "", true},
		{"upper-case column", "EmailAddress1", "x", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Filter(tt.column, tt.value)
			if tt.bad {
				if err == nil {
					t.Fatalf("Filter(%q, %q) = %q, want an error", tt.column, tt.value, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Filter = %q, %v; want %q", got, err, tt.want)
			}
			// The stand-in's own parser reads back exactly one value and
			// the active-state clause.
			conds, err := testenv.ParseODataFilter(got)
			if err != nil || len(conds) != 2 || conds[0].Value != tt.value || conds[1].Column != "statecode" || conds[1].Value != "0" {
				t.Fatalf("parsed back %+v, %v", conds, err)
			}
		})
	}
	if _, err := Filter("emailaddress1", "\n"); !errors.Is(err, ErrBadValue) {
		t.Errorf("a refused value wraps ErrBadValue: %v", err)
	}
}

// The stand-in refuses what a broken escaper would send, so the tests
// above would notice one.
func TestStandInRefusesBadEscaping(t *testing.T) {
	for _, f := range []string{
		"emailaddress1 eq 'o'brien@example.com' and statecode eq 0",
		"emailaddress1 eq 'x' or emailaddress1 ne 'y' and statecode eq 0",
		"emailaddress1 eq 'unterminated and statecode eq 0",
		"emailaddress1 eq x and statecode eq 0",
	} {
		if conds, err := testenv.ParseODataFilter(f); err == nil {
			t.Errorf("%s parsed as %+v", f, conds)
		}
	}
}

// FuzzFilter: whatever the value, Filter either refuses it or builds a
// filter that parses back to exactly two conditions, the value unchanged
// and the active-state clause intact.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"ann@example.com", "o'brien@example.com", "'", "''", "' or 1 eq 1 or 'a' eq '", "x' and statecode eq 1 and 'a' eq 'a", "\u00e9\u2028", " and statecode eq 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, err := Filter("emailaddress1", v)
		if err != nil {
			if CheckValue(v) == nil {
				t.Fatalf("Filter refused %q, which CheckValue accepts: %v", v, err)
			}
			return
		}
		conds, err := testenv.ParseODataFilter(got)
		if err != nil {
			t.Fatalf("%q: built %q, which does not parse: %v", v, got, err)
		}
		if len(conds) != 2 || conds[0].Column != "emailaddress1" || !conds[0].Quoted || conds[0].Value != v ||
			conds[1].Column != "statecode" || conds[1].Quoted || conds[1].Value != "0" {
			t.Fatalf("%q: built %q, parsed as %+v", v, got, conds)
		}
	})
}
