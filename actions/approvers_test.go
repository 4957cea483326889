package actions

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadApprovers(t *testing.T) {
	want := map[string][]string{
		"90081726-8077-4a1b-8320-86986ac3e55c": {"you@you.net", "boss@example.com", `CORP\boss`},
		"cb2f9262-daf5-4131-ba4f-8c857caeca34": {"them@who.org"},
	}
	csv := "\ufeffStreamID, ApprovalEmailAddress\r\n" +
		"90081726-8077-4A1B-8320-86986AC3E55C, you@you.net\r\n" +
		"90081726-8077-4a1b-8320-86986ac3e55c, Boss <boss@example.com>\r\n" +
		"90081726-8077-4a1b-8320-86986ac3e55c, YOU@you.net\r\n" +
		"90081726-8077-4a1b-8320-86986ac3e55c, CORP\\boss\r\n" +
		"cb2f9262-daf5-4131-ba4f-8c857caeca34,them@who.org\r\n"
	yml := `
90081726-8077-4a1b-8320-86986ac3e55c: [you@you.net, boss@example.com, 'CORP\boss', corp\BOSS]
cb2f9262-daf5-4131-ba4f-8c857caeca34:
  - them@who.org
`
	for name, content := range map[string]string{"map.csv": csv, "map.yaml": yml} {
		got, err := LoadApprovers(writeFile(t, name, content))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
}

func TestLoadApproversErrors(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"a.csv", "StreamID, ApprovalEmailAddress\ns1, not-an-address\n", "a.csv:2: 'not-an-address' is not an e-mail address (nor a DIRECTORY\\user account)"},
		{"a.csv", "StreamID, ApprovalEmailAddress\ns1, CORP\\\n", "a.csv:2: 'CORP\\' is not a DIRECTORY\\user account"},
		{"a.csv", "Stream, Email\ns1, a@b.c\n", "a.csv:1: the header must be `StreamID, ApprovalEmailAddress`"},
		{"a.csv", "StreamID, ApprovalEmailAddress\ns1, a@b.c, extra\n", "a.csv:2: wrong number of fields"},
		{"a.yaml", "s1: a@b.c\n", "a.yaml:1: stream s1: want a list of addresses"},
		{"a.txt", "", "use a .csv or .yaml file"},
	} {
		_, err := LoadApprovers(writeFile(t, tc.name, tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.content, err, tc.want)
		}
	}
}
