package engine

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/qs-promoter/qs-promoter/yamlread"
)

// A policy file declares the configuration keys its policies read, with
// their defaults, in a top-level config: mapping:
//
//	config:
//	  auto_unpublish: true
//	policies: …
//
// The daemon configuration's vars: may set declared keys only, each of its
// default's type; a policy reads only the keys of its own file and the
// built-in ones. So a misspelt setting or a misspelt read fails the load
// instead of leaving a default silently in force.

// Config returns what the policies read as config.<key> when the facts do
// not set it: the declared defaults as vars: sets them, and the built-in
// keys. The map is the caller's.
func (rs *Ruleset) Config() map[string]any { return maps.Clone(rs.shape.values) }

// declaration is one config.<key> declared by a policy file.
type declaration struct {
	value any
	file  string
	at    *yaml.Node // the value
}

// declarations are the config: keys of every file of a load.
type declarations struct {
	byFile  map[string]map[string]*declaration
	first   map[string]*declaration // each key's first declaration, in file order
	builtin map[string]any
}

// read records the config: declarations of one file's root mapping.
func (d *declarations) read(p *problems, root *yaml.Node) {
	if root.Kind != yaml.MappingNode {
		return
	}
	if d.first == nil {
		d.first = map[string]*declaration{}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "config" {
			continue
		}
		n := root.Content[i+1]
		if _, done := d.byFile[p.File]; done || yamlread.IsNull(n) {
			return // a second config: is reported as given twice
		}
		if n.Kind != yaml.MappingNode {
			p.node(n, "config: wants a mapping of the configuration keys this file's policies read to their defaults (auto_unpublish: true)")
			return
		}
		mine := map[string]*declaration{}
		d.byFile[p.File] = mine
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], n.Content[j+1]
			key := k.Value
			switch {
			case !isIdentifier(key):
				p.node(k, "config key %q: use letters, digits and _ (policies read it as config.%s)", key, key)
				continue
			case d.builtin[key] != nil:
				p.node(k, "config.%s is set by the daemon itself: read it without declaring it", key)
				continue
			case mine[key] != nil:
				p.node(k, "%s", yamlread.Twice(key, "config"))
				continue
			}
			value, err := defaultValue(v)
			if err != "" {
				p.node(v, "config.%s: %s", key, err)
				continue
			}
			decl := &declaration{value: value, file: p.File, at: v}
			mine[key] = decl
			if first, ok := d.first[key]; !ok {
				d.first[key] = decl
			} else if !reflect.DeepEqual(first.value, value) {
				p.node(v, "config.%s: default %s here, but %s at %s:%d:%d: every file that declares a key gives it the same default",
					key, showValue(value), showValue(first.value), first.file, first.at.Line, first.at.Column)
			}
		}
		return
	}
}

// defaultValue reads a declared default: true or false, a number, text, a
// list of texts, or a mapping (of names to any values). The second result
// says what is wrong.
func defaultValue(n *yaml.Node) (any, string) {
	const want = "a default is true or false, a number, text, a list of texts or a mapping"
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, "give it a default (" + want + ")"
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, err.Error()
			}
			if i, ok := v.(int64); ok { // beyond int on 32-bit systems
				v = int(i)
			}
			return v, ""
		}
		return n.Value, ""
	case yaml.SequenceNode:
		out := []string{}
		for _, it := range n.Content {
			if it.Kind != yaml.ScalarNode {
				return nil, fmt.Sprintf("%s; this list holds a %s", want, yamlread.Kind(it))
			}
			out = append(out, it.Value)
		}
		return out, ""
	case yaml.MappingNode:
		out := map[string]any{}
		if err := n.Decode(&out); err != nil {
			return nil, fmt.Sprintf("%s: %v", want, err)
		}
		return out, ""
	}
	return nil, fmt.Sprintf("%s, not a %s", want, yamlread.Kind(n))
}

// apply checks the settings of vars: against the declarations and returns
// what every policy reads: the defaults, overridden by vars, plus the
// built-in keys.
func (d *declarations) apply(vars []Setting) (map[string]any, []error) {
	values := map[string]any{}
	for k, decl := range d.first {
		values[k] = decl.value
	}
	var errs []error
	declared := slices.Sorted(maps.Keys(d.first))
	for _, s := range vars {
		if _, ok := d.builtin[s.Key]; ok {
			errs = append(errs, s.KeyAt.Errorf("vars: %q is set by the daemon itself", s.Key))
			continue
		}
		decl, ok := d.first[s.Key]
		if !ok {
			errs = append(errs, s.KeyAt.Errorf("%s: vars sets only keys that a policy file declares under config:", yamlread.UnknownKey(s.Key, "vars", declared)))
			continue
		}
		v, ok := convertSetting(decl.value, s.Value)
		if !ok {
			errs = append(errs, s.ValueAt.Errorf("vars.%s: want %s (default %s, declared at %s:%d:%d), got %s",
				s.Key, typeWord(decl.value), showValue(decl.value), decl.file, decl.at.Line, decl.at.Column, showValue(s.Value)))
			continue
		}
		values[s.Key] = v
	}
	for k, v := range d.builtin {
		values[k] = v
	}
	return values, errs
}

// examples are a value of every key policies may read, which types it.
func (d *declarations) examples() map[string]any {
	out := make(map[string]any, len(d.first)+len(d.builtin))
	for k, decl := range d.first {
		out[k] = decl.value
	}
	maps.Copy(out, d.builtin)
	return out
}

// convertSetting converts a value decoded from YAML to the type of a
// declared default; false when it is of another type.
func convertSetting(def, v any) (any, bool) {
	switch def.(type) {
	case bool, string, int:
		return v, reflect.TypeOf(v) == reflect.TypeOf(def)
	case float64:
		switch x := v.(type) {
		case int:
			return float64(x), true
		case float64:
			return x, true
		}
	case map[string]any:
		x, ok := v.(map[string]any)
		return x, ok
	case []string:
		switch x := v.(type) {
		case []string:
			return x, true
		case []any:
			out := make([]string, 0, len(x))
			for _, it := range x {
				s, ok := it.(string)
				if !ok {
					return nil, false
				}
				out = append(out, s)
			}
			return out, true
		}
	}
	return nil, false
}

func typeWord(v any) string {
	switch v.(type) {
	case bool:
		return "true or false"
	case int:
		return "a whole number"
	case float64:
		return "a number"
	case string:
		return "text"
	case []string:
		return "a list of texts"
	case map[string]any:
		return "a mapping"
	}
	return "a value"
}

func showValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []string:
		return fmt.Sprintf("[%s]", strings.Join(x, ", "))
	case []any:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = showValue(it)
		}
		return fmt.Sprintf("[%s]", strings.Join(parts, ", "))
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// checkReads reports the first config.<key> a compiled expression reads
// that its file does not declare and that is not built in, as an expr
// error positioned at the read.
func (d *declarations) checkReads(prog *vm.Program, mine map[string]*declaration) error {
	v := &configReads{}
	node := prog.Node()
	ast.Walk(&node, v)
	for _, r := range v.reads {
		if _, ok := d.builtin[r.key]; ok {
			continue
		}
		if _, ok := mine[r.key]; ok {
			continue
		}
		msg := fmt.Sprintf("config.%s is not declared in this file: add it under config: at the top of the file, with its default", r.key)
		if first, ok := d.first[r.key]; ok {
			msg = fmt.Sprintf("config.%s is not declared in this file: add \"%s: %s\" under config: at the top of the file (as %s:%d declares it)",
				r.key, r.key, yamlText(first.value), first.file, first.at.Line)
		}
		return &file.Error{Location: r.loc, Message: msg}
	}
	if id, ok := v.bare(); ok {
		return &file.Error{Location: id.Location(), Message: "read each configuration value by its name (config.<key>), so that it can be checked"}
	}
	return nil
}

func yamlText(v any) string {
	if s, ok := v.(string); ok {
		b, _ := yaml.Marshal(s)
		return strings.TrimSpace(string(b))
	}
	return showValue(v)
}

// configReads collects the config.<key> member reads of an expression, and
// the uses of config other than by a key's name.
type configReads struct {
	reads  []configRead
	idents []*ast.IdentifierNode // every config identifier
	named  map[*ast.IdentifierNode]bool
}

type configRead struct {
	key string
	loc file.Location
}

func (c *configReads) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok || id.Value != "config" {
			return
		}
		if name, ok := n.Property.(*ast.StringNode); ok {
			c.reads = append(c.reads, configRead{key: name.Value, loc: n.Property.Location()})
			if c.named == nil {
				c.named = map[*ast.IdentifierNode]bool{}
			}
			c.named[id] = true
		}
	case *ast.IdentifierNode:
		if n.Value == "config" {
			c.idents = append(c.idents, n)
		}
	}
}

// bare returns a use of config not by a key's name.
func (c *configReads) bare() (*ast.IdentifierNode, bool) {
	for _, id := range c.idents {
		if !c.named[id] {
			return id, true
		}
	}
	return nil, false
}
