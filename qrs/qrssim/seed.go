package qrssim

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"
)

// Seed is the data a site starts with, read from YAML (see docs/simulator.md).
type Seed struct {
	Users       []UserSeed       `yaml:"users"`
	Streams     []StreamSeed     `yaml:"streams"`
	Tags        []string         `yaml:"tags"`
	Definitions []DefinitionSeed `yaml:"definitions"`
	Apps        []AppSeed        `yaml:"apps"`
}

// UserSeed is a user; Email becomes the user's "Email" attribute.
type UserSeed struct {
	ID        string   `yaml:"id"` // optional GUID
	UserID    string   `yaml:"user_id"`
	Directory string   `yaml:"directory"`
	Name      string   `yaml:"name"` // default: UserID
	Email     string   `yaml:"email"`
	Roles     []string `yaml:"roles"`
}

// StreamSeed is a stream with its custom property values.
type StreamSeed struct {
	ID         string              `yaml:"id"` // optional GUID (approver files name streams by ID)
	Name       string              `yaml:"name"`
	Owner      string              `yaml:"owner"` // DIR\user; default INTERNAL\sa_repository
	Properties map[string][]string `yaml:"properties"`
}

// DefinitionSeed is a custom property definition.
type DefinitionSeed struct {
	ID           string   `yaml:"id"` // optional GUID
	Name         string   `yaml:"name"`
	ObjectTypes  []string `yaml:"object_types"` // App, Stream, User …
	ChoiceValues []string `yaml:"choice_values"`
	Description  string   `yaml:"description"`
}

// AppSeed is an app. Its content is generated: Size bytes, deterministic for
// the site and app ID.
type AppSeed struct {
	ID             string              `yaml:"id"` // optional GUID
	Name           string              `yaml:"name"`
	Owner          string              `yaml:"owner"`  // DIR\user, must be a seeded user
	Stream         string              `yaml:"stream"` // stream name; "" unpublished
	Properties     map[string][]string `yaml:"properties"`
	Tags           []string            `yaml:"tags"`
	Description    string              `yaml:"description"`
	Size           int64               `yaml:"size"`             // content bytes; default 256 KiB
	LastReloadTime string              `yaml:"last_reload_time"` // RFC 3339; default: an hour before start
}

// ParseSeed decodes seed YAML strictly: unknown keys are errors.
func ParseSeed(b []byte) (*Seed, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Seed
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return &s, nil // an empty file is an empty site
		}
		return nil, fmt.Errorf("seed: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// LoadSeedFile reads and decodes a seed file.
func LoadSeedFile(path string) (*Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	s, err := ParseSeed(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// validate checks what can be checked without a site; references (owner,
// stream, property and tag names) are checked when the seed is loaded.
func (s *Seed) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("seed: "+format, args...)) }
	guid := func(what, id string) {
		if id != "" {
			if _, err := uuid.Parse(id); err != nil {
				bad("%s: id %q is not a GUID (like 3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21); remove it to get a random one", what, id)
			}
		}
	}
	for i, u := range s.Users {
		what := fmt.Sprintf("users[%d]", i)
		if u.UserID == "" || u.Directory == "" {
			bad("%s: user_id and directory are required", what)
		}
		guid(what, u.ID)
	}
	for i, st := range s.Streams {
		what := fmt.Sprintf("streams[%d]", i)
		if st.Name == "" {
			bad("%s: name is required", what)
		}
		guid(what, st.ID)
		if st.Owner != "" {
			if _, _, ok := splitAccount(st.Owner); !ok {
				bad("%s (%s): owner %q must be DIRECTORY\\user", what, st.Name, st.Owner)
			}
		}
	}
	for i, t := range s.Tags {
		if strings.TrimSpace(t) == "" {
			bad("tags[%d]: empty tag name", i)
		}
	}
	for i, d := range s.Definitions {
		what := fmt.Sprintf("definitions[%d]", i)
		if d.Name == "" {
			bad("%s: name is required", what)
		}
		guid(what, d.ID)
		for _, ot := range d.ObjectTypes {
			if !knownObjectType(ot) {
				bad("%s (%s): object type %q is not one of App, Stream, User", what, d.Name, ot)
			}
		}
	}
	for i, a := range s.Apps {
		what := fmt.Sprintf("apps[%d]", i)
		if a.Name == "" {
			bad("%s: name is required", what)
		}
		guid(what, a.ID)
		if _, _, ok := splitAccount(a.Owner); !ok {
			bad("%s (%s): owner %q must be DIRECTORY\\user, e.g. CORP\\sales_rep", what, a.Name, a.Owner)
		}
		if a.Size < 0 {
			bad("%s (%s): size must not be negative", what, a.Name)
		}
		if a.LastReloadTime != "" && parseTime(a.LastReloadTime).IsZero() {
			bad("%s (%s): last_reload_time %q is not an RFC 3339 time like 2026-11-27T06:00:12.774Z", what, a.Name, a.LastReloadTime)
		}
	}
	return errors.Join(errs...)
}

func knownObjectType(t string) bool {
	for _, k := range []string{"App", "Stream", "User"} {
		if strings.EqualFold(t, k) {
			return true
		}
	}
	return false
}

// splitAccount splits DIR\user.
func splitAccount(s string) (dir, user string, ok bool) {
	dir, user, ok = strings.Cut(s, `\`)
	return dir, user, ok && dir != "" && user != "" && !strings.Contains(user, `\`)
}

//go:embed seeds/*.yaml
var seedFiles embed.FS

// DefaultSeed returns the data `qs-promoter sim` loads, modelled on the
// original promoter's README: "dev" gets the source site (users, the Sales,
// Review and Everyone streams, the Promote* custom properties, a few apps);
// any other alias gets a target site with same-named published apps so an
// overwrite has something to replace. IDs are stable for a given alias.
func DefaultSeed(alias string) *Seed {
	file := "seeds/target.yaml"
	if strings.EqualFold(alias, "dev") {
		file = "seeds/dev.yaml"
	}
	b, err := seedFiles.ReadFile(file)
	if err != nil {
		panic(err) // embedded
	}
	s, err := ParseSeed(b)
	if err != nil {
		panic(fmt.Sprintf("embedded %s: %v", file, err))
	}
	// Stable IDs per alias: a demo's approver file and links keep working.
	ns := uuid.NewSHA1(uuid.NameSpaceURL, []byte("qrssim:"+strings.ToLower(alias)))
	id := func(cur *string, kind, name string) {
		if *cur == "" {
			*cur = uuid.NewSHA1(ns, []byte(kind+"/"+name)).String()
		}
	}
	for i := range s.Users {
		id(&s.Users[i].ID, "user", s.Users[i].Directory+`\`+s.Users[i].UserID)
	}
	for i := range s.Streams {
		id(&s.Streams[i].ID, "stream", s.Streams[i].Name)
	}
	for i := range s.Definitions {
		id(&s.Definitions[i].ID, "definition", s.Definitions[i].Name)
	}
	for i := range s.Apps {
		id(&s.Apps[i].ID, "app", fmt.Sprintf("%d/%s", i, s.Apps[i].Name))
	}
	return s
}
