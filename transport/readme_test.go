package transport

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// readmeSection names the section a README fragment's first key belongs to,
// for fragments that show one field of a section (`"scope": "route"`).
var readmeSection = map[string]string{
	"remaining_field": "credits",
	"scope":           "pacing",
	"sdk_retries":     "retry",
}

// TestReadmePolicyExamples parses every policy-file example of the root
// README with ParseConfig: the fenced JSON blocks, and the inline fragments
// (`"retry": {"buffer_body": "64KiB"}`), each wrapped into the place it
// shows. The worked example must also be the file the other tests load.
func TestReadmePolicyExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var frags []string
	for _, m := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(readme, -1) {
		frags = append(frags, string(m[1]))
	}
	fenced := len(frags)
	for _, m := range regexp.MustCompile("`(\"[a-z_0-9]+\": [^`]+)`").FindAllSubmatch(readme, -1) {
		frags = append(frags, string(m[1]))
	}
	if fenced < 3 || len(frags)-fenced < 8 {
		t.Fatalf("found %d fenced and %d inline policy examples in README.md; the patterns no longer find them", fenced, len(frags)-fenced)
	}
	for _, frag := range frags {
		doc := strings.TrimSpace(frag)
		if !strings.HasPrefix(doc, "{") {
			key := doc[1 : strings.Index(doc[1:], `"`)+1]
			switch {
			case key == "route_header":
				doc = "{" + doc + "}"
			case strings.ContainsAny(key, " /"): // an endpoint pattern
				doc = `{"endpoints": {` + doc + "}}"
			case readmeSection[key] != "":
				doc = `{"default": {"` + readmeSection[key] + `": {` + doc + "}}}"
			default:
				doc = `{"default": {` + doc + "}}"
			}
		}
		if _, err := ParseConfig([]byte(doc)); err != nil {
			t.Errorf("README example %s: %v", frag, err)
		}
	}

	partner, err := os.ReadFile("testdata/partner-api.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, partner) {
		t.Error("README.md's worked example differs from testdata/partner-api.json")
	}
}
