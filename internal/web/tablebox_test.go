package web_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryTableBoxIsReachable: every box a wide table scrolls in
// (.table-wrap) in every template is a named region with a Tab stop, which
// static/tablebox.js removes while the table fits, so that a keyboard can
// scroll any of them on a phone, whether or not the table holds a link.
func TestEveryTableBoxIsReachable(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("templates", "*.html"))
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v %v", files, err)
	}
	box := regexp.MustCompile(`<div class="table-wrap"[^>]*>`)
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range box.FindAllString(string(b), -1) {
			seen++
			named := strings.Contains(tag, `aria-label="`) || strings.Contains(tag, `aria-labelledby="`)
			if !strings.Contains(tag, `tabindex="0"`) || !strings.Contains(tag, `role="region"`) || !named {
				t.Errorf("%s: %s is not a named region with a Tab stop", f, tag)
			}
		}
	}
	if seen < 8 {
		t.Errorf("found %d table boxes in the templates; the pattern no longer matches them", seen)
	}
}
