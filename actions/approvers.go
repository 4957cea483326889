package actions

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadApprovers reads the stream → approvers map: the e-mail addresses the
// email action's to_stream_approvers writes to, and, for four eyes, who may
// approve an app of the stream (an address, or a DIR\user account, which
// receives no e-mail). Two formats, by extension:
//
// CSV (.csv), as the original's ApprovalStreamsToEmailAddressMap.csv: a
// header `StreamID, ApprovalEmailAddress`, then one row per approver (a
// stream with several approvers has several rows).
//
// YAML (.yaml, .yml): a mapping from stream ID to a list of approvers.
//
// Keys are stream IDs in lower case; entries are checked and de-duplicated.
func LoadApprovers(path string) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("approvers: %w", err)
	}
	var m map[string][]string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		m, err = parseApproversCSV(b)
	case ".yaml", ".yml":
		m, err = parseApproversYAML(b)
	default:
		return nil, fmt.Errorf("approvers: %s: use a .csv or .yaml file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("approvers: %s:%w", path, err)
	}
	return m, nil
}

func parseApproversCSV(b []byte) (map[string][]string, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))) // Excel writes a BOM
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = 2
	out := map[string][]string{}
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%d: %v (want two columns: StreamID, ApprovalEmailAddress)", pe.Line, pe.Err)
			}
			return nil, err
		}
		line, _ := r.FieldPos(0)
		if first {
			if !strings.EqualFold(strings.TrimSpace(rec[0]), "StreamID") {
				return nil, fmt.Errorf("%d: the header must be `StreamID, ApprovalEmailAddress`", line)
			}
			continue
		}
		if err := addApprover(out, rec[0], rec[1]); err != nil {
			return nil, fmt.Errorf("%d: %v", line, err)
		}
	}
}

func parseApproversYAML(b []byte) (map[string][]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf(" %v", err)
	}
	out := map[string][]string{}
	if len(doc.Content) == 0 {
		return out, nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%d: want a mapping of stream ID to a list of addresses", top.Line)
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		var addrs []string
		if err := v.Decode(&addrs); err != nil {
			return nil, fmt.Errorf("%d: stream %s: want a list of addresses (or DIR\\user accounts)", v.Line, k.Value)
		}
		for _, a := range addrs {
			if err := addApprover(out, k.Value, a); err != nil {
				return nil, fmt.Errorf("%d: %v", v.Line, err)
			}
		}
	}
	return out, nil
}

func addApprover(m map[string][]string, stream, entry string) error {
	stream = strings.ToLower(strings.TrimSpace(stream))
	entry = strings.TrimSpace(entry)
	if stream == "" {
		return errors.New("empty stream ID")
	}
	if dir, user, ok := strings.Cut(entry, `\`); ok {
		if strings.TrimSpace(dir) == "" || strings.TrimSpace(user) == "" || strings.Contains(user, `\`) {
			return fmt.Errorf("%s is not a DIRECTORY\\user account", q(entry))
		}
	} else {
		a, err := mail.ParseAddress(entry)
		if err != nil {
			return fmt.Errorf("%s is not an e-mail address (nor a DIRECTORY\\user account)", q(entry))
		}
		entry = a.Address
	}
	for _, have := range m[stream] {
		if strings.EqualFold(have, entry) {
			return nil
		}
	}
	m[stream] = append(m[stream], entry)
	return nil
}

// isAccount tells a DIR\user entry of the approvers file from an address.
func isAccount(entry string) bool { return strings.Contains(entry, `\`) }
