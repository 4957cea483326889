package qrs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// UnmarshalJSON reads a change type as QRS's number (2) or its name
// ("Update", any case), also when the number is written as a string ("2").
func (c *ChangeType) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case float64:
		if v == float64(int(v)) && v >= 0 && v <= 3 {
			*c = ChangeType(v)
			return nil
		}
	case string:
		s := strings.TrimSpace(v)
		if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 3 {
			*c = ChangeType(n)
			return nil
		}
		for _, t := range []ChangeType{ChangeUndefined, ChangeAdd, ChangeUpdate, ChangeDelete} {
			if strings.EqualFold(s, t.String()) {
				*c = t
				return nil
			}
		}
	}
	return fmt.Errorf("changeType %s is not Add, Update, Delete or their numbers 1, 2, 3", bytes.TrimSpace(b))
}

// UnmarshalJSON decodes a change info leniently: only changeType must be
// readable (a number or a name). The other fields are taken as text when
// they are strings, numbers or booleans and left empty otherwise (null, an
// object), so that a field QRS fills differently in some version never
// makes a callback unreadable: QRS does not send a rejected callback again.
// Field names match case-insensitively, as encoding/json's do.
func (c *ChangeInfo) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	*c = ChangeInfo{}
	// A name given twice in different cases: the exact one wins.
	get := func(name string) (json.RawMessage, bool) {
		if v, ok := fields[name]; ok {
			return v, true
		}
		for k, v := range fields {
			if strings.EqualFold(k, name) {
				return v, true
			}
		}
		return nil, false
	}
	if v, ok := get("changeType"); ok {
		if err := json.Unmarshal(v, &c.ChangeType); err != nil {
			return err
		}
	}
	for name, dst := range map[string]*string{
		"objectType": &c.ObjectType, "objectID": &c.ObjectID, "engineID": &c.EngineID, "engineType": &c.EngineType,
		"originatorNodeID": &c.OriginatorNodeID, "originatorHostName": &c.OriginatorHostName,
		"createdDate": &c.CreatedDate, "modifiedDate": &c.ModifiedDate, "schemaPath": &c.SchemaPath,
	} {
		if v, ok := get(name); ok {
			*dst, _ = looseString(v)
		}
	}
	if v, ok := get("originatorContextID"); ok {
		if s, ok := looseString(v); ok {
			c.OriginatorContextID = &s
		}
	}
	if v, ok := get("changedProperties"); ok {
		c.ChangedProperties = looseStrings(v)
	}
	return nil
}

// looseString returns a JSON scalar as text (a number as written); false
// for null, objects and arrays.
func looseString(v json.RawMessage) (string, bool) {
	var x any
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	if d.Decode(&x) != nil {
		return "", false
	}
	switch x := x.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// looseStrings reads a list of names: the scalars of an array, or a single
// scalar.
func looseStrings(v json.RawMessage) []string {
	var list []json.RawMessage
	if json.Unmarshal(v, &list) != nil {
		if s, ok := looseString(v); ok {
			return []string{s}
		}
		return nil
	}
	var out []string
	for _, e := range list {
		if s, ok := looseString(e); ok {
			out = append(out, s)
		}
	}
	return out
}
