package contact

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// MaxValueLen bounds a matched value: Dataverse's single line of text
// holds at most 4,000 characters, and an email 320.
const MaxValueLen = 4000

// ErrBadValue means a claim's value cannot be matched: empty, too long,
// not UTF-8, or holding control characters. Nothing is sent to Dataverse.
var ErrBadValue = errors.New("contact: the claim's value cannot be matched")

// Filter builds the OData $filter that finds the active record whose
// column equals value: "column eq 'value' and statecode eq 0". value is an
// OData string literal, its single quotes doubled (OData ABNF: SQUOTE-in-
// string = SQUOTE SQUOTE), so no value can end the literal and add a
// clause of its own. column must be a logical name (config.IsColumnName)
// and value must pass CheckValue.
func Filter(column, value string) (string, error) {
	if !config.IsColumnName(column) {
		return "", fmt.Errorf("contact: %q is not a column's logical name", column)
	}
	if err := CheckValue(value); err != nil {
		return "", err
	}
	return column + " eq " + Literal(value) + " and statecode eq 0", nil
}

// Literal is value as an OData string literal.
func Literal(value string) string {
	return "'" + strings.ReplaceAll(value, "'", "''") + "'"
}

// CheckValue refuses what no honest claim holds and what could upset the
// Web API's parser: empty or blank values, invalid UTF-8, control
// characters (a newline or NUL never belongs in an email or a customer
// number), and values past MaxValueLen.
func CheckValue(v string) error {
	switch {
	case strings.TrimSpace(v) == "":
		return fmt.Errorf("%w: empty", ErrBadValue)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: not UTF-8", ErrBadValue)
	case utf8.RuneCountInString(v) > MaxValueLen:
		return fmt.Errorf("%w: longer than %d characters", ErrBadValue, MaxValueLen)
	case strings.ContainsFunc(v, unicode.IsControl):
		return fmt.Errorf("%w: control characters", ErrBadValue)
	}
	return nil
}
