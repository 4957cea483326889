package engine

import (
	"fmt"
	"strings"
)

// Four eyes: the approver of an app is who set its approval value (QRS
// stamps each custom property value with modifiedByUserName), not who last
// changed the app, so that a later edit by someone else cannot turn a
// refused self-approval into a valid one.

// ApproversKey is the built-in config key holding the approvers file: stream
// ID (lower case) → entries (e-mail addresses and DIR\user accounts), a
// map[string][]string. NewFacts gives the app's stream its entries.
const ApproversKey = "approvers"

// SetterOf returns who set the first value of the named custom property
// (name case-insensitive): "" when the app has no such value or QRS did not
// say.
func (a *AppFacts) SetterOf(property string) string {
	for name, by := range a.SetBy {
		if strings.EqualFold(name, property) && len(by) > 0 {
			return strings.TrimSpace(by[0])
		}
	}
	return ""
}

// ApproverProblem says why account may not approve the app under four
// eyes, or "" when it may: nobody known, the owner, or someone who is not
// listed for the app's stream when the approvers file lists anyone for it.
// A listed address matches the e-mail address QRS holds for the account
// (app.setters).
func (a *AppFacts) ApproverProblem(account string) string {
	account = strings.TrimSpace(account)
	switch {
	case account == "":
		return "QRS does not say who set the approval, so it cannot be told apart from the owner's"
	case a.Owner.Account != "" && strings.EqualFold(account, a.Owner.Account):
		return fmt.Sprintf("%s owns the app; under four eyes someone else must approve it", account)
	case len(a.Stream.Approvers) == 0:
		return ""
	}
	email := ""
	for _, u := range a.Setters {
		if strings.EqualFold(u.Account, account) {
			email = strings.TrimSpace(u.Email)
		}
	}
	for _, entry := range a.Stream.Approvers {
		entry = strings.TrimSpace(entry)
		if strings.EqualFold(entry, account) || (email != "" && strings.EqualFold(entry, email)) {
			return ""
		}
	}
	who := account
	if email != "" {
		who += " (" + email + ")"
	}
	return fmt.Sprintf("%s is not an approver of stream %q; its approvers are %s", who, a.Stream.Name, strings.Join(a.Stream.Approvers, ", "))
}
