package engine

import (
	"encoding/json"
	"fmt"
	"html"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/qs-promoter/qs-promoter/qrs"
)

// template is a parameter string with {{ expr }} interpolations.
type template struct {
	raw   string
	parts []tplPart
	whole bool // exactly one {{ expr }} and nothing else: yields the expression's own value
}

type tplPart struct {
	text string      // literal text, when prog is nil
	src  string      // the expression source
	prog *vm.Program // compiled expression
	typ  reflect.Type
}

// tplSpan is one {{ }} found by splitTemplate: rune offsets of the
// expression inside the raw string.
type tplSpan struct {
	open       int // rune offset of "{{"
	start, end int // the expression, between the braces
}

// splitTemplate finds the {{ }} spans of s. An unclosed "{{" is an error at
// its offset.
func splitTemplate(s string) ([]tplSpan, int, error) {
	r := []rune(s)
	var spans []tplSpan
	for i := 0; i+1 < len(r); i++ {
		if r[i] != '{' || r[i+1] != '{' {
			continue
		}
		j := i + 2
		for ; j+1 < len(r); j++ {
			if r[j] == '}' && r[j+1] == '}' {
				break
			}
		}
		if j+1 >= len(r) {
			return nil, i, fmt.Errorf("template: \"{{\" is never closed with \"}}\"")
		}
		if strings.TrimSpace(string(r[i+2:j])) == "" {
			return nil, i, fmt.Errorf("template: empty {{ }}")
		}
		spans = append(spans, tplSpan{open: i, start: i + 2, end: j})
		i = j + 1
	}
	return spans, 0, nil
}

func hasTemplate(s string) bool { return strings.Contains(s, "{{") }

// eval evaluates the template. For a whole template it returns the
// expression's value; otherwise the interpolated string (HTML-escaping the
// interpolated values when html is set).
func (t *template) eval(env any, escapeHTML bool) (any, error) {
	if t.whole {
		return t.parts[0].run(env)
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := p.run(env)
		if err != nil {
			return nil, err
		}
		s := formatValue(v)
		if escapeHTML {
			s = html.EscapeString(s)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func (p *tplPart) run(env any) (any, error) {
	v, err := vm.Run(p.prog, env)
	if err != nil {
		return nil, fmt.Errorf("{{ %s }}: %w", strings.TrimSpace(p.src), runError(err))
	}
	return v, nil
}

// formatValue writes a value into text: lists joined with ", ", times in
// QRS format, targets as "test - Overwrite", maps as JSON.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case time.Time:
		if v.IsZero() {
			return ""
		}
		return qrs.FormatTime(v)
	case Target:
		return v.String()
	case []string:
		return strings.Join(v, ", ")
	case []Target:
		s := make([]string, len(v))
		for i, t := range v {
			s[i] = t.String()
		}
		return strings.Join(s, ", ")
	case []any:
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = formatValue(x)
		}
		return strings.Join(s, ", ")
	case fmt.Stringer:
		return v.String()
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map, reflect.Struct:
		b, err := json.Marshal(v)
		if err == nil {
			return string(b)
		}
	case reflect.Slice, reflect.Array:
		s := make([]string, rv.Len())
		for i := range s {
			s[i] = formatValue(rv.Index(i).Interface())
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprint(v)
}
