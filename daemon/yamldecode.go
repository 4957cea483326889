package daemon

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// strictDecoder decodes a YAML node tree into config structs, rejecting
// unknown keys and reporting every problem as file:line:col. yaml.v3's own
// KnownFields reports only a line and stops at the first type error; an admin
// editing a config deserves all problems at once, each pointing at its key.
type strictDecoder struct {
	file string
	errs []error
	pos  map[string]yaml.Node // dotted path → the node it came from (for validation)
}

func (d *strictDecoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("%s:%d:%d: %s", d.file, n.Line, n.Column, fmt.Sprintf(format, args...)))
}

// hints for keys people are likely to write but must not.
var keyHints = map[string]string{
	"password":          "secrets are never read from the config file: use password_env (an environment variable) or password_file",
	"secret_access_key": "secrets are never read from the config file: use the standard AWS credential chain (environment, shared profile, instance role)",
	"access_key_id":     "credentials are never read from the config file: use the standard AWS credential chain (environment, shared profile, instance role)",
}

func (d *strictDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.pos[path] = *n
	if n.Tag == "!!null" && v.Kind() != reflect.Interface && v.Kind() != reflect.Map {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "%s: want a mapping of keys, got %s", label(path), describe(n))
			return
		}
		fields := yamlFields(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok {
				if hint, ok := keyHints[k.Value]; ok {
					d.errorf(k, "%s: %s", join(path, k.Value), hint)
					continue
				}
				d.errorf(k, "unknown key %q in %s (known keys: %s)", k.Value, label(path), strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
				continue
			}
			if seen[k.Value] {
				d.errorf(k, "key %q given twice in %s", k.Value, label(path))
				continue
			}
			seen[k.Value] = true
			d.pos[join(path, k.Value)+"@key"] = *k
			d.decode(val, v.Field(idx), join(path, k.Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s: want a list, got %s", label(path), describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	default:
		// Scalars, and maps of free values (vars): yaml.v3 decodes them; we
		// only reword its errors and position them.
		if v.Kind() != reflect.Map && v.Kind() != reflect.Interface && n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: want %s, got %s", label(path), kindName(v.Type()), describe(n))
			return
		}
		if v.Kind() == reflect.Map {
			if n.Kind != yaml.MappingNode {
				d.errorf(n, "%s: want a mapping of keys, got %s", label(path), describe(n))
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				d.pos[join(path, n.Content[i].Value)+"@key"] = *n.Content[i]
			}
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			if v.Type() == reflect.TypeOf(time.Duration(0)) {
				d.errorf(n, "%s: want a duration such as 500ms, 30s or 5m, got %q", label(path), n.Value)
				return
			}
			d.errorf(n, "%s: want %s, got %q", label(path), kindName(v.Type()), n.Value)
		}
	}
}

func yamlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func label(path string) string {
	if path == "" {
		return "the config"
	}
	return path
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func kindName(t reflect.Type) string {
	if t == reflect.TypeOf(time.Duration(0)) {
		return "a duration such as 500ms, 30s or 5m"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.String:
		return "a string"
	case reflect.Map:
		return "a mapping"
	}
	return t.String()
}
