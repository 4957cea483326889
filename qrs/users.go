package qrs

import (
	"context"
	"net/http"
	"strings"
)

// Users lists users (GET /qrs/user/full?filter=…).
func (c *Client) Users(ctx context.Context, f *Filter) ([]User, error) {
	var us []User
	if err := c.list(ctx, "/qrs/user/full", f, &us); err != nil {
		return nil, err
	}
	return us, nil
}

// User reads one user (GET /qrs/user/{id}).
func (c *Client) User(ctx context.Context, id string) (*User, error) {
	var u User
	if err := c.get(ctx, "/qrs/user/{id}", []string{id}, "", &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UserByEmail finds users whose e-mail attribute matches (case-insensitive).
// It asks QRS to filter on attributes.attributeValue and checks the answer;
// a server that rejects that filter (400) gets a full user list instead.
func (c *Client) UserByEmail(ctx context.Context, email string) ([]User, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return nil, nil
	}
	us, err := c.Users(ctx, Eq("attributes.attributeValue", email))
	if statusOf(err) == http.StatusBadRequest {
		us, err = c.Users(ctx, nil)
	}
	if err != nil {
		return nil, err
	}
	var out []User
	for _, u := range us {
		for _, a := range u.Attributes {
			if strings.EqualFold(a.AttributeType, "email") && strings.EqualFold(strings.TrimSpace(a.AttributeValue), email) {
				out = append(out, u)
				break
			}
		}
	}
	return out, nil
}
