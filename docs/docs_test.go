// Package docs holds the project's own documents; this test keeps the
// repository standing alone: no file points outside it, and every citation
// of a document (and of a section of docs/AZR.md) resolves.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// textFiles lists the repository's own source and documentation files.
func textFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	exts := map[string]bool{".go": true, ".md": true, ".h": true, ".cpp": true, ".c": true, ".py": true, ".txt": true, ".sh": true, ".yaml": true, ".yml": true}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "build", "bin", "testdata", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !exts[filepath.Ext(path)] && d.Name() != "Makefile" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(path)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNothingPointsOutsideTheRepository(t *testing.T) {
	// Built from pieces so this file does not match itself.
	outside := []string{"../" + "shared", "/work/" + "shared", "shared/" + "spec", "AZR-" + "SPEC", "TRAINING-" + "MATH", "ENGINE-" + "FACTS", "NANO-" + "FACTS", "SANDBOX-" + "FACTS"}
	for path, text := range textFiles(t) {
		for _, o := range outside {
			if i := strings.Index(text, o); i >= 0 {
				line := strings.Count(text[:i], "\n") + 1
				t.Errorf("%s:%d refers to %q, outside the repository", path, line, o)
			}
		}
	}
}

func TestCitedDocumentsExist(t *testing.T) {
	azr, err := os.ReadFile("AZR.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := regexp.MustCompile(`docs/([A-Z][A-Z_]*\.md)`)
	section := regexp.MustCompile(`docs/AZR\.md ?(§([0-9]+(?:\.[0-9]+)?)|(Q[0-9]+))`)
	for path, text := range textFiles(t) {
		for _, m := range doc.FindAllStringSubmatch(text, -1) {
			if _, err := os.Stat(m[1]); err != nil {
				t.Errorf("%s cites docs/%s, which does not exist", path, m[1])
			}
		}
		for _, m := range section.FindAllStringSubmatch(text, -1) {
			var heading *regexp.Regexp
			if m[2] != "" {
				heading = regexp.MustCompile(`(?m)^#+ ` + regexp.QuoteMeta(m[2]) + `[. ]`)
			} else {
				heading = regexp.MustCompile(`\*\*` + m[3] + `\*\*`)
			}
			if !heading.Match(azr) {
				t.Errorf("%s cites %s, which docs/AZR.md does not have", path, m[0])
			}
		}
	}
}
