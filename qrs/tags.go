package qrs

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// Tags lists tags (GET /qrs/tag/full?filter=…).
func (c *Client) Tags(ctx context.Context, f *Filter) ([]Tag, error) {
	var ts []Tag
	if err := c.list(ctx, "/qrs/tag/full", f, &ts); err != nil {
		return nil, err
	}
	return ts, nil
}

// CreateTag creates a tag (POST /qrs/tag).
func (c *Client) CreateTag(ctx context.Context, name string) (*Tag, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("qrs %s: a tag needs a name", c.cfg.Alias)
	}
	k, err := jsonCall(http.MethodPost, "/qrs/tag", nil, "", Tag{Name: name})
	if err != nil {
		return nil, err
	}
	var t Tag
	if err := c.send(ctx, k, &t); err != nil {
		return nil, err
	}
	return &t, nil
}
