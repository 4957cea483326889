package qrs

// Filters are built with this API only; values are quoted and escaped so that
// data can never change a filter's meaning.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Filter is a QRS filter expression built safely. A nil *Filter matches
// everything. A filter built from a bad field name or value type carries the
// error, and the client returns it instead of calling QRS.
type Filter struct {
	expr string
	err  error
}

// String returns the filter text (not URL-encoded; the client encodes it).
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.expr
}

// Err reports why the filter could not be built (nil when it is sound).
func (f *Filter) Err() error {
	if f == nil {
		return nil
	}
	return f.err
}

// GUID marks a value as a GUID, written bare in a filter. A value that is not
// a well-formed GUID is quoted instead, so it can only fail to match.
type GUID string

var (
	guidRE  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	fieldRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$`)
)

// IsGUID reports whether s is a well-formed GUID (8-4-4-4-12 hex digits).
func IsGUID(s string) bool { return guidRE.MatchString(s) }

// quote writes s as a QRS string literal: backslash and quote escaped.
func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `\'`)
	return "'" + s + "'"
}

// literal renders a value for a filter.
func literal(value any) (string, error) {
	switch v := value.(type) {
	case string:
		return quote(v), nil
	case GUID:
		if IsGUID(string(v)) {
			return string(v), nil
		}
		return quote(string(v)), nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int32:
		return strconv.FormatInt(int64(v), 10), nil
	case time.Time:
		return quote(FormatTime(v)), nil
	}
	return "", fmt.Errorf("qrs: filter value %v of type %T is not supported (use string, GUID, bool, int or time.Time)", value, value)
}

func compare(field, op string, value any) *Filter {
	if !fieldRE.MatchString(field) {
		return &Filter{err: fmt.Errorf("qrs: filter field %q is not a property path (letters, digits, _ and dots)", field)}
	}
	lit, err := literal(value)
	if err != nil {
		return &Filter{err: err}
	}
	return &Filter{expr: field + " " + op + " " + lit}
}

// Eq is `field eq value`. value is a string (quoted, escaped), a GUID, a
// bool, an int or a time.Time (quoted QRS timestamp).
func Eq(field string, value any) *Filter { return compare(field, "eq", value) }

// Ne is `field ne value`.
func Ne(field string, value any) *Filter { return compare(field, "ne", value) }

// Gt is `field gt value`.
func Gt(field string, value any) *Filter { return compare(field, "gt", value) }

// Ge is `field ge value`.
func Ge(field string, value any) *Filter { return compare(field, "ge", value) }

// Lt is `field lt value`.
func Lt(field string, value any) *Filter { return compare(field, "lt", value) }

// Le is `field le value`.
func Le(field string, value any) *Filter { return compare(field, "le", value) }

// StartsWith is `field sw value`.
func StartsWith(field string, value string) *Filter { return compare(field, "sw", value) }

// EndsWith is `field ew value`.
func EndsWith(field string, value string) *Filter { return compare(field, "ew", value) }

// Contains is `field so value` (value is a substring of field).
func Contains(field string, value string) *Filter { return compare(field, "so", value) }

// And joins filters with `and` (parenthesised).
func And(fs ...*Filter) *Filter { return join("and", fs) }

// Or joins filters with `or` (parenthesised).
func Or(fs ...*Filter) *Filter { return join("or", fs) }

// join skips nil filters; the result is parenthesised so that it composes
// safely. And of no filters is nil (matches everything); Or of no filters is
// an error rather than a filter that would list everything.
func join(op string, fs []*Filter) *Filter {
	var parts []string
	for _, f := range fs {
		if f == nil {
			continue
		}
		if f.err != nil {
			return &Filter{err: f.err}
		}
		parts = append(parts, f.expr)
	}
	switch len(parts) {
	case 0:
		if op == "or" {
			return &Filter{err: fmt.Errorf("qrs: Or of no filters would match nothing; check for an empty list before building the filter")}
		}
		return nil
	case 1:
		return &Filter{expr: parts[0]}
	}
	return &Filter{expr: "(" + strings.Join(parts, " "+op+" ") + ")"}
}
