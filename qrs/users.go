package qrs

import (
	"context"
	"net/http"
	"strings"
)

// Users lists users (GET /qrs/user/full?filter=…).
func (c *Client) Users(ctx context.Context, f *Filter) ([]User, error) {
	return list[User](ctx, c, "/qrs/user/full", f)
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
// a server that rejects that filter (400) gets a full user list instead,
// read user by user and never held.
func (c *Client) UserByEmail(ctx context.Context, email string) ([]User, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return nil, nil
	}
	var out []User
	keep := func(u *User) error {
		for _, a := range u.Attributes {
			if strings.EqualFold(a.AttributeType, "email") && strings.EqualFold(strings.TrimSpace(a.AttributeValue), email) {
				out = append(out, *u)
				break
			}
		}
		return nil
	}
	restart := func() { out = out[:0] }
	err := each(ctx, c, "/qrs/user/full", Eq("attributes.attributeValue", email), keep, restart)
	if statusOf(err) == http.StatusBadRequest {
		restart()
		err = each(ctx, c, "/qrs/user/full", nil, keep, restart)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
