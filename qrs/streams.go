package qrs

import (
	"context"
)

// Streams lists streams (GET /qrs/stream/full?filter=…).
func (c *Client) Streams(ctx context.Context, f *Filter) ([]Stream, error) {
	return list[Stream](ctx, c, "/qrs/stream/full", f)
}

// Stream reads one stream (GET /qrs/stream/{id}).
func (c *Client) Stream(ctx context.Context, id string) (*Stream, error) {
	var s Stream
	if err := c.get(ctx, "/qrs/stream/{id}", []string{id}, "", &s); err != nil {
		return nil, err
	}
	return &s, nil
}
