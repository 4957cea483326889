package actions

import (
	"fmt"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
)

// The README's actions reference is generated from the specs, in parts
// that a test compares with the README (and rewrites with -update): the
// table of actions, and per action its parameter table and example.

// actionsTableHeader starts the README's table of actions.
const actionsTableHeader = "| action | what it does | destructive |\n|---|---|---|\n"

// actionRow is an action's row in the table of actions.
func actionRow(s engine.ActionSpec) string {
	destructive := "no"
	if s.Destructive {
		destructive = "**yes**"
	}
	return fmt.Sprintf("| [%s](#%s) | %s | %s |\n", s.Name, s.Name, s.Summary, destructive)
}

// paramTable is the table of an action's parameters.
func paramTable(s engine.ActionSpec) string {
	var b strings.Builder
	b.WriteString("| parameter | kind | default | |\n|---|---|---|---|\n")
	for _, p := range s.Params {
		def := p.DefaultDoc
		switch {
		case p.Required:
			def = "required"
		case p.Default != nil:
			def = fmt.Sprintf("`%v`", p.Default)
		}
		cells := []string{"`" + p.Name + "`", string(p.Kind), def, p.Doc}
		for i, c := range cells {
			if c == "" {
				cells[i] = " " // an empty cell reads "| |"
			} else {
				cells[i] = " " + c + " "
			}
		}
		b.WriteString("|" + strings.Join(cells, "|") + "|\n")
	}
	return b.String()
}

// exampleBlock is an action's example as a fenced YAML block.
func exampleBlock(s engine.ActionSpec) string {
	return "```yaml\n" + s.Example + "```\n"
}
