// Package policies holds the shipped policy files (data, not code): embedded
// so that the demo runs from any folder, with the config.<key> defaults they read.
package policies

import "embed"

// Files holds the shipped policies, their tests and README.md.
//
//go:embed *.yaml README.md
var Files embed.FS

// Defaults are the config.<key> values the shipped policies read, used for
// every key the daemon configuration's vars: does not set (README.md).
var Defaults = map[string]any{
	"server_property":     "PromoteToServer",
	"stream_property":     "PromoteToStream",
	"approval_property":   "PromotionApproval",
	"versioning_property": "PromotionS3Versioning",
	"unpublish_property":  "PromotionUnpublish",
	"reload_property":     "PromoteOnReload",
	"alert_property":      "EmailAlertOnPublishTo",
	"reload_tag":          "PromoteOnReload",
	"publish_alerts":      true,
	"auto_unpublish":      true,
	"versioning":          true,
	"auto_versioning":     false,
	"promote_on_reload":   true,
}
