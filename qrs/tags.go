package qrs

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// Tags lists tags (GET /qrs/tag/full?filter=…).
func (c *Client) Tags(ctx context.Context, f *Filter) ([]Tag, error) {
	return list[Tag](ctx, c, "/qrs/tag/full", f)
}

// CreateTag creates a tag (POST /qrs/tag). After a failure that may have
// reached the server, a tag of that name is looked for before trying again.
func (c *Client) CreateTag(ctx context.Context, name string) (*Tag, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("qrs %s: a tag needs a name", c.cfg.Alias)
	}
	k, err := jsonCall(http.MethodPost, "/qrs/tag", nil, "", Tag{Name: name})
	if err != nil {
		return nil, err
	}
	var t Tag
	err = c.write(ctx, k, &t, func(ctx context.Context) (bool, error) {
		ts, err := c.Tags(ctx, Eq("name", name))
		if err != nil {
			return false, err
		}
		for _, found := range ts {
			if strings.EqualFold(found.Name, name) {
				t = found
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}
