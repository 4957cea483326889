package qrs

// CONTRACT STUB: to be implemented (issue 2). Filters are built with this API
// only; values are quoted and escaped so that data can never change a
// filter's meaning.

import "time"

// Filter is a QRS filter expression built safely.
type Filter struct{ expr string }

// String returns the filter text (not URL-encoded; the client encodes it).
func (f *Filter) String() string { return f.expr }

// GUID marks a value as a GUID, written bare in a filter. A value that is not
// a well-formed GUID is quoted instead, so it can only fail to match.
type GUID string

// Eq is `field eq value`. value is a string (quoted, escaped), a GUID, a
// bool, an int or a time.Time (quoted QRS timestamp).
func Eq(field string, value any) *Filter { panic("not implemented") }

// Ne is `field ne value`.
func Ne(field string, value any) *Filter { panic("not implemented") }

// Gt is `field gt value`.
func Gt(field string, value any) *Filter { panic("not implemented") }

// Ge is `field ge value`.
func Ge(field string, value any) *Filter { panic("not implemented") }

// Lt is `field lt value`.
func Lt(field string, value any) *Filter { panic("not implemented") }

// Le is `field le value`.
func Le(field string, value any) *Filter { panic("not implemented") }

// StartsWith is `field sw value`.
func StartsWith(field string, value string) *Filter { panic("not implemented") }

// EndsWith is `field ew value`.
func EndsWith(field string, value string) *Filter { panic("not implemented") }

// Contains is `field so value` (value is a substring of field).
func Contains(field string, value string) *Filter { panic("not implemented") }

// And joins filters with `and` (parenthesised).
func And(fs ...*Filter) *Filter { panic("not implemented") }

// Or joins filters with `or` (parenthesised).
func Or(fs ...*Filter) *Filter { panic("not implemented") }

var _ = time.Time{}
