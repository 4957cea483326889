package qrs

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// CustomPropertyDefinitions lists custom property definitions
// (GET /qrs/custompropertydefinition/full?filter=…).
func (c *Client) CustomPropertyDefinitions(ctx context.Context, f *Filter) ([]CustomPropertyDefinition, error) {
	return list[CustomPropertyDefinition](ctx, c, "/qrs/custompropertydefinition/full", f)
}

// CreateCustomPropertyDefinition creates one (POST /qrs/custompropertydefinition).
// After a failure that may have reached the server, a definition of that
// name is looked for before trying again.
func (c *Client) CreateCustomPropertyDefinition(ctx context.Context, d CustomPropertyDefinition) (*CustomPropertyDefinition, error) {
	if strings.TrimSpace(d.Name) == "" {
		return nil, fmt.Errorf("qrs %s: a custom property definition needs a name", c.cfg.Alias)
	}
	if d.ValueType == "" {
		d.ValueType = "Text"
	}
	if d.ChoiceValues == nil {
		d.ChoiceValues = []string{}
	}
	if d.ObjectTypes == nil {
		d.ObjectTypes = []string{}
	}
	k, err := jsonCall(http.MethodPost, "/qrs/custompropertydefinition", nil, "", d)
	if err != nil {
		return nil, err
	}
	var out CustomPropertyDefinition
	err = c.write(ctx, k, &out, func(ctx context.Context) (bool, error) {
		ds, err := c.CustomPropertyDefinitions(ctx, Eq("name", d.Name))
		if err != nil {
			return false, err
		}
		for _, found := range ds {
			if strings.EqualFold(found.Name, d.Name) {
				out = found
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
