package qrs_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs"
)

const samples = "../testdata/qrs/samples"

// TestSamplesDecode decodes every JSON sample captured from real servers
// into the type the client uses for it, and checks the fields came through.
func TestSamplesDecode(t *testing.T) {
	checks := map[string]func(t *testing.T, b []byte){
		"app-upload-response.json": func(t *testing.T, b []byte) {
			var a qrs.App
			mustDecode(t, b, &a)
			if a.ID != "35dffd22-9cf2-405e-a311-e4d7105d8cfb" || a.Name != "BarCharts" || a.Owner.UserID != "sa_repository" ||
				a.Stream != nil || a.Published || a.PublishTime != qrs.NeverPublished || a.FileSize != 1132728 {
				t.Errorf("decoded %+v", a)
			}
			if !qrs.ParseTime(a.PublishTime).IsZero() || qrs.ParseTime(a.ModifiedDate).IsZero() {
				t.Error("ParseTime")
			}
			if !strings.Contains(string(a.Raw()), `"privileges"`) {
				t.Error("Raw lost the unmodelled fields")
			}
		},
		"app-export-response.json": func(t *testing.T, b []byte) {
			var e qrs.ExportResponse
			mustDecode(t, b, &e)
			if e.ExportToken == "" || e.AppID == "" || !strings.HasPrefix(e.DownloadPath, "/tempcontent/") || e.Cancelled {
				t.Errorf("decoded %+v", e)
			}
		},
		// The bulk export answer shares the single export's fields but for
		// appIds; the client does not use bulk export.
		"app-bulk-export-response.json": func(t *testing.T, b []byte) {
			var e qrs.ExportResponse
			mustDecode(t, b, &e)
			if e.ExportToken == "" || e.DownloadPath == "" {
				t.Errorf("decoded %+v", e)
			}
		},
		"custompropertydefinition-create-response.json": func(t *testing.T, b []byte) {
			var d qrs.CustomPropertyDefinition
			mustDecode(t, b, &d)
			if d.Name != "Region" || d.ValueType != "Text" || len(d.ChoiceValues) != 3 || d.ObjectTypes == nil {
				t.Errorf("decoded %+v", d)
			}
		},
		"custompropertydefinition-with-objecttypes.json": func(t *testing.T, b []byte) {
			var d qrs.CustomPropertyDefinition
			mustDecode(t, b, &d)
			if d.Name != "Region" || len(d.ObjectTypes) != 1 || d.ObjectTypes[0] != "User" {
				t.Errorf("decoded %+v", d)
			}
		},
		"notification-callback-payload.json": func(t *testing.T, b []byte) {
			var cs []qrs.ChangeInfo
			mustDecode(t, b, &cs)
			if len(cs) != 1 || cs[0].ChangeType != qrs.ChangeUpdate || cs[0].ObjectID == "" ||
				len(cs[0].ChangedProperties) != 3 || cs[0].OriginatorContextID != nil {
				t.Errorf("decoded %+v", cs)
			}
		},
		"tag-update.json": func(t *testing.T, b []byte) {
			var tag qrs.Tag
			mustDecode(t, b, &tag)
			if tag.Name != "Mytag" || tag.ID == "" {
				t.Errorf("decoded %+v", tag)
			}
		},
		"externalchangeinfo-schema.proxy-openapi.json": func(t *testing.T, b []byte) {
			var spec openAPI
			mustDecode(t, b, &spec)
			checkModel(t, spec, "ExternalChangeInfo", qrs.ChangeInfo{})
			var names []string
			mustDecode(t, spec.Definitions["ChangeType"]["x-enumNames"], &names)
			for i, n := range names {
				if qrs.ChangeType(i).String() != n {
					t.Errorf("ChangeType(%d) is %s, Qlik says %s", i, qrs.ChangeType(i), n)
				}
			}
		},
		"qrs-openapi-subset.json": func(t *testing.T, b []byte) {
			var spec openAPI
			mustDecode(t, b, &spec)
			for name, v := range map[string]any{
				"App": qrs.App{}, "Stream": qrs.Stream{}, "User": qrs.User{}, "UserAttribute": qrs.UserAttribute{},
				"Tag": qrs.Tag{}, "CustomPropertyDefinition": qrs.CustomPropertyDefinition{},
				"CustomPropertyValue": qrs.CustomPropertyValue{}, "About": qrs.About{},
				"AppExportResponse": qrs.ExportResponse{}, "UserCondensed": qrs.UserCondensed{},
				"StreamCondensed": qrs.StreamCondensed{}, "TagCondensed": qrs.TagCondensed{},
				"CustomPropertyDefinitionCondensed": qrs.CustomPropertyDefinitionCondensed{},
			} {
				checkModel(t, spec, name, v)
			}
		},
	}

	files, err := filepath.Glob(filepath.Join(samples, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in %s: %v", samples, err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		check := checks[name]
		if check == nil {
			t.Errorf("%s: a new sample: add a check that decodes it into its type", name)
			continue
		}
		t.Run(name, func(t *testing.T) { check(t, readFile(t, f)) })
	}
}

type openAPI struct {
	Definitions map[string]map[string]json.RawMessage `json:"definitions"`
}

// seenNotModelled are fields real servers send (see the captured samples)
// that the OpenAPI file of v38.22 does not list.
var seenNotModelled = map[string]bool{
	"ExternalChangeInfo.schemaPath": true, // notification-callback-payload.json
	"Tag.impactSecurityAccess":      true, // tag-update.json (older servers)
}

// checkModel checks that every JSON field of v is a property of Qlik's model.
func checkModel(t *testing.T, spec openAPI, model string, v any) {
	t.Helper()
	def, ok := spec.Definitions[model]
	if !ok {
		t.Errorf("the OpenAPI file has no model %s", model)
		return
	}
	var props map[string]json.RawMessage
	mustDecode(t, def["properties"], &props)
	typ := reflect.TypeOf(v)
	for i := range typ.NumField() {
		tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		if _, ok := props[tag]; !ok && !seenNotModelled[model+"."+tag] {
			t.Errorf("%s.%s: Qlik's model %s has no property %q", typ.Name(), typ.Field(i).Name, model, tag)
		}
	}
}

func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding into %T: %v", v, err)
	}
}
