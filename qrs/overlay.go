package qrs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// overlay writes what a change did to an entity onto the JSON it was read
// from, so that the PUT carries every field, modelled or not.
//
// before and after are the modelled entity marshalled before and after the
// change. Only top-level fields that differ are written. Objects are merged
// key by key when they refer to the same entity (same "id", or none), so
// unmodelled nested fields (owner.userDirectoryConnectorName) survive; an
// object with another id replaces the old one. Arrays are replaced, but an
// element with the id of an old element is merged with it. modifiedDate is
// the one that was read: QRS answers 409 when someone saved in between.
func overlay(raw json.RawMessage, before, after []byte, modifiedDate string) ([]byte, error) {
	base := map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := decodeNumbers(raw, &base); err != nil {
			return nil, fmt.Errorf("the entity as read is not a JSON object: %w", err)
		}
	}
	var b, a map[string]any
	if err := decodeNumbers(before, &b); err != nil {
		return nil, err
	}
	if err := decodeNumbers(after, &a); err != nil {
		return nil, err
	}
	for k, v := range a {
		if !reflect.DeepEqual(b[k], v) {
			base[k] = merge(base[k], v)
		}
	}
	for k, v := range b {
		if _, kept := a[k]; !kept {
			if _, isString := v.(string); isString {
				base[k] = "" // an omitempty string the change cleared
			}
		}
	}
	base["modifiedDate"] = modifiedDate
	return json.Marshal(base)
}

func decodeNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // keep numbers exactly as QRS wrote them
	return d.Decode(v)
}

func merge(old, new any) any {
	switch n := new.(type) {
	case map[string]any:
		o, ok := old.(map[string]any)
		if !ok || !sameEntity(o, n) {
			return n
		}
		for k, v := range n {
			o[k] = merge(o[k], v)
		}
		return o
	case []any:
		o, ok := old.([]any)
		if !ok {
			return n
		}
		byID := map[string]map[string]any{}
		for _, e := range o {
			if m, ok := e.(map[string]any); ok {
				if id, ok := m["id"].(string); ok && id != "" {
					byID[id] = m
				}
			}
		}
		out := make([]any, len(n))
		for i, e := range n {
			out[i] = e
			if m, ok := e.(map[string]any); ok {
				if id, ok := m["id"].(string); ok && byID[id] != nil {
					out[i] = merge(byID[id], m)
				}
			}
		}
		return out
	}
	return new
}

func sameEntity(a, b map[string]any) bool {
	ida, _ := a["id"].(string)
	idb, _ := b["id"].(string)
	return ida == "" || idb == "" || ida == idb
}
