package rl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
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

// ReadSeedFiles reads seed tasks for Trainer.SetSeeds from JSONL files in
// the reference's seed layout (docs/AZR.md §6.4: *_seed_io.jsonl rows are
// triplets, *_code_f_seed_io.jsonl rows carry "inputs", "outputs" and a
// "message") or in our Task format; one file may hold both kinds. Rows are
// classified by their fields, not by the file name. limit > 0 keeps the
// first limit tasks of each kind (the reference loads the first 256). A
// kind no file provides starts from its zero task. A row that is neither a
// complete triplet nor a complete induction task is an error naming it.
func ReadSeedFiles(paths []string, limit int) (triplets, induction []Task, err error) {
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, fmt.Errorf("seed file: %w", err)
		}
		tasks, err := ReadTasksJSONL(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("seed file %s: %w", path, err)
		}
		for i, t := range tasks {
			t.Step, t.Thought = 0, ""
			switch {
			case len(t.Inputs) > 0:
				if len(t.Outputs) != len(t.Inputs) || len(t.Inputs) < 2 || strings.TrimSpace(t.Message) == "" {
					return nil, nil, fmt.Errorf("seed file %s: task %d: an induction task needs as many outputs as inputs (at least 2) and a message; it has %d inputs, %d outputs",
						path, i+1, len(t.Inputs), len(t.Outputs))
				}
				induction = append(induction, t)
			case strings.TrimSpace(t.Input) != "" && strings.TrimSpace(t.Output) != "":
				triplets = append(triplets, t)
			default:
				return nil, nil, fmt.Errorf("seed file %s: task %d: neither a triplet (input and output) nor an induction task (inputs, outputs, message)", path, i+1)
			}
		}
	}
	if limit > 0 {
		triplets, induction = triplets[:min(limit, len(triplets))], induction[:min(limit, len(induction))]
	}
	if len(triplets) == 0 {
		triplets = []Task{ZeroTriplet()}
	}
	if len(induction) == 0 {
		induction = []Task{ZeroInduction()}
	}
	return triplets, induction, nil
}
