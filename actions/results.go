package actions

import (
	"encoding/json"
	"fmt"
)

// PromotedApp is one entry of promote's Values["apps"]: an app the step
// replaced or published on a target site. Values hold it as a
// map[string]any with these JSON names, so that policies read
// steps.promote.apps[0].url and the value survives a JSON checkpoint.
type PromotedApp struct {
	Site     string `json:"site"`      // target site alias
	Host     string `json:"host"`      // its host (for links)
	Stream   string `json:"stream"`    // stream name
	StreamID string `json:"stream_id"` // stream id
	AppID    string `json:"app_id"`    // the app now in the stream
	Action   string `json:"action"`    // "replaced" or "published"
	URL      string `json:"url"`       // https://<host>/sense/app/<app_id>
	Name     string `json:"name"`      // the app's name
}

// SiteFailure is one entry of promote's Values["failures"].
type SiteFailure struct {
	Site  string `json:"site"`
	Error string `json:"error"`
}

// asValue turns a typed value into the plain maps and lists expressions and
// JSON checkpoints deal in.
func asValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with the plain structs above
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// decodeValue reads a value produced by asValue (or restored from a
// checkpoint, or written by hand in a policy) into a typed one. A single
// object where a list is expected is taken as a one-item list.
func decodeValue[T any](v any, what string) ([]T, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	var list []T
	if err := json.Unmarshal(b, &list); err == nil {
		return list, nil
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return nil, fmt.Errorf("%s: want a list like steps.promote.apps, got %s", what, truncate(string(b), 80))
	}
	return []T{one}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
