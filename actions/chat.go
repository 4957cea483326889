package actions

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// chatMessage is what a webhook step says, before it takes an endpoint's
// format: a title, plain text (lines), facts shown as a table, and links.
type chatMessage struct {
	Title string     `json:"title"`
	Text  string     `json:"text"`
	Facts []chatFact `json:"facts"`
	Links []chatLink `json:"links"`
}

type chatFact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type chatLink struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// chatTemplates are the built-in messages: the e-mails' content and links,
// shortened for a channel.
var chatTemplates = map[string]func(d *mailData) chatMessage{
	"approved": func(d *mailData) chatMessage {
		return chatMessage{
			Title: fmt.Sprintf("'%s' promotion approved by '%s'", d.App.Name, d.Approver),
			Text:  fmt.Sprintf("The app '%s' has been approved for promotion. A second message will list where it was published.", d.App.Name),
			Facts: []chatFact{{"App", d.App.Name}, {"App ID", d.App.ID}, {"Owner", d.App.Owner.Account}, {"Approved by", d.Approver},
				{"Target sites", strings.Join(d.Targets, ", ")}, {"Target streams", strings.Join(d.Streams, ", ")}},
		}
	},
	"denied": func(d *mailData) chatMessage {
		return chatMessage{
			Title: fmt.Sprintf("'%s' promotion denied by '%s'", d.App.Name, d.Approver),
			Text:  fmt.Sprintf("The promotion of the app '%s' has been denied.", d.App.Name),
			Facts: []chatFact{{"App", d.App.Name}, {"App ID", d.App.ID}, {"Owner", d.App.Owner.Account}, {"Denied by", d.Approver}},
		}
	},
	"published-alert": func(d *mailData) chatMessage {
		m := chatMessage{
			Title: fmt.Sprintf("'%s' published to '%s'", d.App.Name, d.App.Stream.Name),
			Text:  fmt.Sprintf("The app '%s' has been published to the stream '%s'.", d.App.Name, d.App.Stream.Name),
			Facts: []chatFact{{"App", d.App.Name}, {"Owner", d.App.Owner.Account}, {"Published by", d.App.ModifiedBy}, {"Stream", d.App.Stream.Name}},
		}
		if d.HubURL != "" {
			m.Links = append(m.Links, chatLink{"Open the app", d.HubURL})
		}
		return m
	},
	"results": func(d *mailData) chatMessage {
		m := chatMessage{Title: fmt.Sprintf("'%s' promotion results", d.App.Name)}
		var lines []string
		for _, a := range d.Apps {
			lines = append(lines, fmt.Sprintf("Site %s (%s), stream %s: app %s (%s)", a.Site, a.Host, a.Stream, a.AppID, a.Action))
			if a.URL != "" {
				m.Links = append(m.Links, chatLink{fmt.Sprintf("%s: %s", a.Site, a.Stream), a.URL})
			}
		}
		if len(d.Apps) == 0 {
			lines = append(lines, "No app was published.")
		}
		sites := make([]string, 0, len(d.StreamsNotFound))
		for site := range d.StreamsNotFound {
			sites = append(sites, site)
		}
		sort.Strings(sites)
		for _, site := range sites {
			lines = append(lines, fmt.Sprintf("Streams not found on %s: %s", site, strings.Join(d.StreamsNotFound[site], ", ")))
		}
		for _, f := range d.Failures {
			lines = append(lines, fmt.Sprintf("Failed on %s: %s", f.Site, f.Error))
		}
		m.Text = strings.Join(lines, "\n")
		m.Facts = []chatFact{{"App", d.App.Name}, {"Owner", d.App.Owner.Account}}
		return m
	},
}

// chatPayload shapes a message for a format. A step's body replaces the
// message whatever the format; a string body must be JSON text itself.
func chatPayload(format string, m chatMessage, body any, extra map[string]any) ([]byte, error) {
	if body != nil {
		if s, ok := body.(string); ok {
			if !json.Valid([]byte(s)) {
				return nil, fmt.Errorf("body is text that is not JSON; write it as a YAML mapping instead (its strings may hold {{ }})")
			}
			return []byte(s), nil
		}
		return json.Marshal(body)
	}
	switch format {
	case FormatTeams:
		return json.Marshal(teamsMessage(m))
	case FormatSlack:
		return json.Marshal(slackMessage(m))
	case FormatJSON:
		doc := map[string]any{"title": m.Title, "text": m.Text, "facts": nonNilSlice(m.Facts), "links": nonNilSlice(m.Links)}
		for k, v := range extra {
			doc[k] = v
		}
		return json.Marshal(doc)
	}
	return nil, fmt.Errorf("format %q is not one of teams, slack, json", format)
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// teamsMaxActions is how many links become buttons; more are listed as text.
const teamsMaxActions = 5

// teamsMessage is the message a Teams Workflows webhook ("When a Teams
// webhook request is received") takes: a message whose attachment is an
// Adaptive Card (1.4, which Teams renders).
func teamsMessage(m chatMessage) map[string]any {
	body := []map[string]any{}
	if m.Title != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": m.Title, "weight": "Bolder", "size": "Medium", "wrap": true})
	}
	// A line per TextBlock: Teams' markdown joins single line breaks.
	first := true
	for _, line := range strings.Split(m.Text, "\n") {
		if strings.TrimSpace(line) == "" {
			first = true
			continue
		}
		tb := map[string]any{"type": "TextBlock", "text": line, "wrap": true}
		if !first {
			tb["spacing"] = "None"
		}
		body = append(body, tb)
		first = false
	}
	if len(m.Facts) > 0 {
		facts := make([]map[string]any, 0, len(m.Facts))
		for _, f := range m.Facts {
			facts = append(facts, map[string]any{"title": f.Name, "value": f.Value})
		}
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	}
	actions := []map[string]any{}
	for i, l := range m.Links {
		if i < teamsMaxActions {
			actions = append(actions, map[string]any{"type": "Action.OpenUrl", "title": l.Title, "url": l.URL})
			continue
		}
		body = append(body, map[string]any{"type": "TextBlock", "text": fmt.Sprintf("[%s](%s)", l.Title, l.URL), "wrap": true, "spacing": "None"})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
		"msteams": map[string]any{"width": "Full"},
	}
	if len(actions) > 0 {
		card["actions"] = actions
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

// Slack's limits on blocks (characters).
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
	slackFieldsMax  = 10
)

// slackMessage is what a Slack incoming webhook takes: text (the
// notification and fallback) and blocks. Data is escaped (&, <, >) so that
// a name cannot make a link or a mention.
func slackMessage(m chatMessage) map[string]any {
	blocks := []map[string]any{}
	if m.Title != "" {
		blocks = append(blocks, map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": clip(m.Title, slackHeaderMax), "emoji": false}})
	}
	if strings.TrimSpace(m.Text) != "" {
		blocks = append(blocks, mrkdwnSection(clip(slackEscape(m.Text), slackSectionMax)))
	}
	if len(m.Facts) > 0 {
		fields := []map[string]any{}
		for _, f := range m.Facts[:min(len(m.Facts), slackFieldsMax)] {
			fields = append(fields, map[string]any{"type": "mrkdwn", "text": clip("*"+slackEscape(f.Name)+"*\n"+slackEscape(f.Value), slackFieldMax)})
		}
		blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
	}
	if len(m.Links) > 0 {
		var lines []string
		for _, l := range m.Links {
			lines = append(lines, fmt.Sprintf("<%s|%s>", slackEscape(l.URL), slackEscape(l.Title)))
		}
		blocks = append(blocks, mrkdwnSection(clip(strings.Join(lines, "\n"), slackSectionMax)))
	}
	text := slackEscape(strings.TrimSpace(m.Title + "\n" + m.Text))
	return map[string]any{"text": text, "blocks": blocks}
}

func mrkdwnSection(text string) map[string]any {
	return map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }

// clip shortens s to n characters, ending it with "…".
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
