package actions

import (
	"strconv"
	"strings"
	"unicode"
)

// q quotes data from QRS (app and stream names) for summaries and log lines:
// control characters are escaped, so a name with a newline stays on its line.
func q(s string) string { return "'" + oneLine(s) + "'" }

// oneLine escapes control characters (newlines, tabs, escapes) in s.
func oneLine(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			b.WriteString(strings.Trim(strconv.QuoteRune(r), "'"))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// short abbreviates a GUID for summaries ("1a2b3c4d…"); details carry the full id.
func short(id string) string {
	if len(id) <= 8 {
		return id
	}
	return id[:8] + "…"
}

// hubURL is the hub link of an app on a site.
func hubURL(host, appID string) string { return "https://" + host + "/sense/app/" + appID }

// plural returns "1 app" / "2 apps".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// quoteAll quotes each name and joins them with commas.
func quoteAll(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = q(n)
	}
	return strings.Join(out, ", ")
}
