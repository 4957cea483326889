// Package audit writes the audit records out for other tools: CSV (a Qlik
// app loads the promotion history from it, as the original's dashboard
// loaded its log files) and JSON Lines. The console's download and
// `qs-promoter audit export` share it.
package audit

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/store"
)

// Format is an export format.
type Format string

// The formats.
const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// ParseFormat reads a format's name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case CSV, JSONL:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want csv or jsonl", s)
}

// Columns are the CSV's header, one column per searchable field, then the
// whole record as JSON.
var Columns = []string{"id", "time", "type", "action", "outcome", "site", "app_id", "app_name", "user", "policies", "execution_id", "record"}

// Write writes the records as they come (memory stays flat however many
// there are) and returns how many it wrote. A CSV starts with its header;
// JSONL has one record's JSON per line, as the audit file has it.
func Write(w io.Writer, f Format, recs iter.Seq2[store.AuditRecord, error]) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	var cw *csv.Writer
	if f == CSV {
		cw = csv.NewWriter(bw)
		if err := cw.Write(Columns); err != nil {
			return 0, err
		}
	}
	n := 0
	for r, err := range recs {
		if err != nil {
			flush(cw, bw)
			return n, err
		}
		switch f {
		case CSV:
			err = cw.Write([]string{strconv.FormatInt(r.ID, 10), r.Time.UTC().Format(time.RFC3339Nano), r.Type, r.Action, r.Outcome,
				r.Site, r.AppID, cell(r.AppName), cell(r.User), cell(strings.Join(r.Policies, "; ")), r.ExecutionID, string(compact(r.Record))})
		default:
			_, err = bw.Write(append(compact(r.Record), '\n'))
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, flush(cw, bw)
}

func flush(cw *csv.Writer, bw *bufio.Writer) error {
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// compact puts a record's JSON on one line.
func compact(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("{}")
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}

// cell keeps a spreadsheet from reading user input (an app's name) as a
// formula: a text cell that starts with =, +, -, @, a tab or a carriage
// return gets a leading apostrophe, as OWASP advises.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
