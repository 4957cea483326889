package yamlread

import (
	"testing"
	"time"
)

type site struct {
	Alias string        `yaml:"alias"`
	Port  int           `yaml:"port"`
	Wait  time.Duration `yaml:"wait"`
}

type file struct {
	Sites []site         `yaml:"sites"`
	Vars  map[string]any `yaml:"vars"`
	Name  string         `yaml:"name"`
}

// The decoder reports every problem at once, at its key or value, in the
// one wording, and remembers where each value is for later checks.
func TestDecoder(t *testing.T) {
	root, err := Parse("f.yaml", []byte("sites:\n  - alias: dev\n    prot: 1\n    wait: soon\n  - {alias: test, port: x, password: y}\nvars:\n  a: [1, 2]\nname: n\nname: m\npassword: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder("f.yaml")
	d.Root, d.Hints = "the file", map[string]string{"password": "never here", "sites.password": "not in a site"}
	var f file
	d.Decode(root, &f)
	want := `f.yaml:3:5: unknown key "prot" in sites[0]; did you mean "port"? (known: alias, port, wait)
f.yaml:4:11: sites[0].wait: want a duration such as 500ms, 30s or 5m, got "soon"
f.yaml:5:25: sites[1].port: want a whole number, got "x"
f.yaml:5:28: sites[1].password: not in a site
f.yaml:9:1: "name" given twice in the file
f.yaml:10:1: password: never here`
	if err := d.Err(); err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if f.Sites[1].Alias != "test" || f.Name != "n" || len(f.Vars["a"].([]any)) != 2 {
		t.Errorf("decoded %+v", f)
	}
	for path, pos := range map[string][2]int{"sites[1].alias": {5, 13}, "sites[1].port": {5, 25}, "vars.a": {7, 3}, "sites[0].certs": {2, 5}, "nowhere": {1, 1}} {
		if l, c := d.Pos(path); l != pos[0] || c != pos[1] {
			t.Errorf("Pos(%s) = %d:%d, want %d:%d", path, l, c, pos[0], pos[1])
		}
	}
	if l, c := d.KeyPos("vars.a"); l != 7 || c != 3 {
		t.Errorf("KeyPos(vars.a) = %d:%d", l, c)
	}
	if !d.Failed("sites[1]") || !d.Failed("sites") || d.Failed("sites[1].alias") || d.Failed("vars") {
		t.Error("Failed does not say which values did not decode")
	}
}
