package qrs

import (
	"context"
)

// Streams lists streams (GET /qrs/stream/full?filter=…).
func (c *Client) Streams(ctx context.Context, f *Filter) ([]Stream, error) {
	var ss []Stream
	if err := c.list(ctx, "/qrs/stream/full", f, &ss); err != nil {
		return nil, err
	}
	return ss, nil
}

// Stream reads one stream (GET /qrs/stream/{id}).
func (c *Client) Stream(ctx context.Context, id string) (*Stream, error) {
	var s Stream
	if err := c.get(ctx, "/qrs/stream/{id}", []string{id}, "", &s); err != nil {
		return nil, err
	}
	return &s, nil
}
