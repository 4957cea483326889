package yamlread

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Decoder decodes a YAML node tree into Go structs by their yaml tags, as
// yaml.v3's KnownFields(true) would, but reporting every problem at once,
// each at its own key or value (yaml.v3 stops at the first type error and
// gives a line only). It remembers where every value came from, so that
// checks made after decoding are positioned too (At, Errorf).
type Decoder struct {
	Problems
	// Root names the whole file in messages (default "the file").
	Root string
	// Hints replace the unknown-key message for keys people are likely to
	// write but must not (a password in a config file): key, or its path
	// without list indexes ("webhooks.url"), → advice.
	Hints map[string]string

	pos    map[string]*yaml.Node // dotted path → its value's node; path+"@key" → its key's
	failed map[string]bool       // paths whose value did not decode
}

// NewDecoder returns a decoder whose problems name file.
func NewDecoder(file string) *Decoder {
	return &Decoder{Problems: Problems{File: file}, pos: map[string]*yaml.Node{}, failed: map[string]bool{}}
}

// Decode decodes n into v (a pointer); the root's path is "".
func (d *Decoder) Decode(n *yaml.Node, v any) {
	d.decode(n, reflect.ValueOf(v).Elem(), "")
}

// Pos returns the position of the value at path ("sites[1].certs"): a
// scalar's own, a mapping's or list's key; for a path not in the file, that
// of the nearest part of it that is (line 1 column 1 at worst).
func (d *Decoder) Pos(path string) (line, col int) {
	for p := path; ; {
		if n, ok := d.pos[p]; ok && n.Kind == yaml.ScalarNode {
			return n.Line, n.Column
		}
		if n, ok := d.pos[p+"@key"]; ok {
			return n.Line, n.Column
		}
		if n, ok := d.pos[p]; ok && n.Line > 0 {
			return n.Line, n.Column
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return 1, 1
		}
		p = p[:i]
	}
}

// KeyPos returns the position of the key of path, or Pos(path) when it has none.
func (d *Decoder) KeyPos(path string) (line, col int) {
	if n, ok := d.pos[path+"@key"]; ok {
		return n.Line, n.Column
	}
	return d.Pos(path)
}

// Errorf records a problem at the value of path.
func (d *Decoder) Errorf(path, format string, args ...any) {
	line, col := d.Pos(path)
	d.At(line, col, format, args...)
}

// Failed reports whether the value at path, or a value inside it, did not
// decode: a check of it would only repeat the problem.
func (d *Decoder) Failed(path string) bool {
	for p := range d.failed {
		if p == path || strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
			return true
		}
	}
	return false
}

func (d *Decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.failed[path] = true
	d.Node(n, format, args...)
}

func (d *Decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.pos[path] = n
	if IsNull(n) && v.Kind() != reflect.Interface && v.Kind() != reflect.Map {
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
			d.fail(n, path, "%s: want a mapping of keys, got %s", d.label(path), describe(n))
			return
		}
		fields, known := yamlFields(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok {
				d.failed[join(path, k.Value)] = true
				if hint, ok := d.hint(path, k.Value); ok {
					d.Node(k, "%s: %s", join(path, k.Value), hint)
					continue
				}
				d.Node(k, "%s", UnknownKey(k.Value, d.label(path), known))
				continue
			}
			if seen[k.Value] {
				d.Node(k, "%s", Twice(k.Value, d.label(path)))
				continue
			}
			seen[k.Value] = true
			d.pos[join(path, k.Value)+"@key"] = k
			d.decode(val, v.Field(idx), join(path, k.Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "%s: want a list, got %s", d.label(path), describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	default:
		// Scalars, and maps of free values: yaml.v3 decodes them; their
		// errors are reworded and positioned here.
		if v.Kind() != reflect.Map && v.Kind() != reflect.Interface && n.Kind != yaml.ScalarNode {
			d.fail(n, path, "%s: want %s, got %s", d.label(path), kindName(v.Type()), describe(n))
			return
		}
		if v.Kind() == reflect.Map {
			if n.Kind != yaml.MappingNode {
				d.fail(n, path, "%s: want a mapping of keys, got %s", d.label(path), describe(n))
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := join(path, n.Content[i].Value)
				d.pos[key+"@key"] = n.Content[i]
				d.pos[key] = n.Content[i+1]
			}
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n, path, "%s: want %s, got %q", d.label(path), kindName(v.Type()), n.Value)
		}
	}
}

// hint returns the advice for an unknown key: the one for its path without
// list indexes ("console.users.password") first, else the one for the key.
func (d *Decoder) hint(path, key string) (string, bool) {
	if h, ok := d.Hints[join(indexRE.ReplaceAllString(path, ""), key)]; ok {
		return h, true
	}
	h, ok := d.Hints[key]
	return h, ok
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// yamlFields maps each yaml key of a struct type to its field index, and
// lists the keys in field order.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	out := map[string]int{}
	var known []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out[name] = i
			known = append(known, name)
		}
	}
	return out, known
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *Decoder) label(path string) string {
	if path == "" {
		if d.Root != "" {
			return d.Root
		}
		return "the file"
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
