package rl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// ReadTasksJSONL reads tasks, one JSON object per line, in our Task format
// or in the reference's seed-file format (docs/AZR.md §6.4: "snippet" for the
// program, "imports" as a list or as one string of lines; other reference
// fields are ignored). Blank lines are skipped.
func ReadTasksJSONL(r io.Reader) ([]Task, error) {
	var out []Task
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var raw struct {
			Task
			Snippet string          `json:"snippet"`
			Imports json.RawMessage `json:"imports"`
		}
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		t := raw.Task
		if t.Program == "" {
			t.Program = raw.Snippet
		}
		t.Imports = nil
		if len(raw.Imports) > 0 && string(raw.Imports) != "null" {
			var list []string
			if err := json.Unmarshal(raw.Imports, &list); err != nil {
				var s string
				if err2 := json.Unmarshal(raw.Imports, &s); err2 != nil {
					return nil, fmt.Errorf("line %d: imports: %w", line, err)
				}
				for _, l := range strings.Split(s, "\n") {
					if l = strings.TrimSpace(l); l != "" {
						list = append(list, l)
					}
				}
			}
			t.Imports = list
		}
		if t.Program == "" {
			return nil, fmt.Errorf("line %d: no program (or snippet)", line)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}
