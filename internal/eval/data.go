package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/azr-native/azr-native/rl"
)

// Item is one usable benchmark row.
type Item struct {
	ID   string `json:"id"`
	Line int    `json:"line"` // 1-based line of the row in its file

	// Task holds output, input and induction rows as self-play stores a task:
	// Program is the row's code, Input/Output or Inputs/Outputs/Message its
	// data, and (induction) Imports the code's top-level import lines, which
	// are put in front of the model's program when it is checked, as in
	// self-play.
	Task rl.Task `json:"task"`

	// Function rows (HumanEval layout).
	Prompt     string `json:"prompt,omitempty"`      // signature and docstring to complete
	EntryPoint string `json:"entry_point,omitempty"` // the function check() is called with
	Test       string `json:"test,omitempty"`        // defines check(candidate)
	Solution   string `json:"-"`                     // canonical_solution, when given: used to verify the row
}

// RowError says why one row of a file is not used.
type RowError struct {
	Line   int    `json:"line"`
	ID     string `json:"id,omitempty"`
	Reason string `json:"error"`
}

func (e RowError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("line %d (id %s): %s", e.Line, e.ID, e.Reason)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

// Dataset is a benchmark file read for one task.
type Dataset struct {
	Task  Task
	Name  string // the file it came from, for messages
	Items []Item
	Bad   []RowError // rows skipped, in file order
}

// ReadFile reads a JSON-lines benchmark file for task. Bad rows are kept in
// Dataset.Bad and skipped; with strict they make it an error. A file without
// one usable row is always an error.
func ReadFile(path string, task Task, strict bool) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, path, task, strict)
}

// Read is ReadFile over any reader; name labels the data in messages.
func Read(r io.Reader, name string, task Task, strict bool) (*Dataset, error) {
	if _, err := ParseTask(string(task)); err != nil {
		return nil, err
	}
	ds := &Dataset{Task: task, Name: name}
	seen := map[string]int{}
	br := bufio.NewReader(r)
	rows := 0
	array := false // the first row opens a JSON array: the wrong format, say so
	for line := 1; ; line++ {
		text, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: line %d: %w", name, line, err)
		}
		if t := bytes.TrimSpace(text); len(t) > 0 {
			if rows == 0 && t[0] == '[' {
				array = true
			}
			rows++
			it, rerr := parseRow(task, t, line)
			if rerr == nil {
				if first, dup := seen[it.ID]; dup {
					rerr = &RowError{Line: line, ID: it.ID, Reason: fmt.Sprintf("duplicate id (first on line %d)", first)}
				} else {
					seen[it.ID] = line
				}
			}
			if rerr != nil {
				ds.Bad = append(ds.Bad, *rerr)
			} else {
				ds.Items = append(ds.Items, it)
			}
		}
		if err == io.EOF {
			break
		}
	}
	if rows == 0 {
		return nil, fmt.Errorf("%s: no rows (want JSON lines, one %s row per line)", name, task)
	}
	if array && len(ds.Items) == 0 {
		return nil, fmt.Errorf("%s is a JSON array; eval reads JSON lines, one object per line (convert it with: jq -c '.[]' %s > rows.jsonl)", name, name)
	}
	if err := ds.Err(strict); err != nil {
		return nil, err
	}
	return ds, nil
}

// Err is the error for a dataset's bad rows: always when no row is usable,
// and for any bad row when strict. Reading non-strictly, verifying, then
// calling Err(true) reports every bad row of a file at once.
func (ds *Dataset) Err(strict bool) error {
	switch {
	case len(ds.Items) == 0:
		return fmt.Errorf("%s: no usable %s rows, %d bad:\n%w", ds.Name, ds.Task, len(ds.Bad), listRowErrors(ds.Bad))
	case strict && len(ds.Bad) > 0:
		return fmt.Errorf("%s: %d bad %s rows (strict):\n%w", ds.Name, len(ds.Bad), ds.Task, listRowErrors(ds.Bad))
	}
	return nil
}

// listRowErrors joins row errors, one per line, at most 20 of them.
func listRowErrors(bad []RowError) error {
	const show = 20
	var errs []error
	for i, b := range bad {
		if i == show {
			errs = append(errs, fmt.Errorf("... and %d more", len(bad)-show))
			break
		}
		errs = append(errs, b)
	}
	return errors.Join(errs...)
}

var (
	identifierRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	checkDefRe   = regexp.MustCompile(`(?m)^[ \t]*def[ \t]+check[ \t]*\(`)
	importLineRe = regexp.MustCompile(`^(import[ \t]+\S|from[ \t]+\S+[ \t]+import[ \t])`)
)

// row reads the fields of one JSON object, recording the first problem.
type row struct {
	fields map[string]json.RawMessage
	err    string
}

func (r *row) fail(format string, args ...any) {
	if r.err == "" {
		r.err = fmt.Sprintf(format, args...)
	}
}

func jsonKind(raw json.RawMessage) string {
	switch t := bytes.TrimSpace(raw); {
	case len(t) == 0:
		return "nothing"
	case t[0] == '"':
		return "a string"
	case t[0] == '[':
		return "an array"
	case t[0] == '{':
		return "an object"
	case t[0] == 'n':
		return "null"
	case t[0] == 't' || t[0] == 'f':
		return "a boolean"
	}
	return "a number"
}

// str returns a string field; required fields must be present.
func (r *row) str(name string, required bool) string {
	raw, ok := r.fields[name]
	if !ok {
		if required {
			r.fail("missing field %q", name)
		}
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		r.fail("field %q must be a string, not %s", name, jsonKind(raw))
	}
	return s
}

// nonEmpty is a required string field that must not be blank.
func (r *row) nonEmpty(name string) string {
	s := r.str(name, true)
	if r.err == "" && strings.TrimSpace(s) == "" {
		r.fail("field %q is empty", name)
	}
	return s
}

// strList returns a required array-of-strings field.
func (r *row) strList(name string) []string {
	raw, ok := r.fields[name]
	if !ok {
		r.fail("missing field %q", name)
		return nil
	}
	var v []string
	if err := json.Unmarshal(raw, &v); err != nil {
		r.fail("field %q must be an array of strings (each the Python text of a value), not %s", name, jsonKind(raw))
	}
	return v
}

// id returns the row's id: a string, or an integer written as a number.
func (r *row) id(name string) string {
	raw, ok := r.fields[name]
	if !ok {
		r.fail("missing field %q", name)
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.TrimSpace(s) == "" {
			r.fail("field %q is empty", name)
		}
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if _, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			return n.String()
		}
	}
	r.fail("field %q must be a string or an integer, not %s", name, jsonKind(raw))
	return ""
}

// parseRow turns one JSON line into an item of the task.
func parseRow(task Task, text []byte, line int) (Item, *RowError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(text, &fields); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return Item{}, &RowError{Line: line, Reason: "want a JSON object, not " + jsonKind(text)}
		}
		return Item{}, &RowError{Line: line, Reason: "bad JSON: " + err.Error()}
	}
	if fields == nil {
		return Item{}, &RowError{Line: line, Reason: "want a JSON object, not null"}
	}
	r := &row{fields: fields}
	it := Item{Line: line}
	switch task {
	case TaskOutput, TaskInput:
		it.ID = r.id("id")
		it.Task.Program = r.nonEmpty("code")
		it.Task.Input = r.str("input", true) // may be empty: f()
		it.Task.Output = r.nonEmpty("output")
		if strings.ContainsAny(it.Task.Output, "\n\r") {
			r.fail("field \"output\" spans several lines; it must be the one-line repr of the value")
		}
	case TaskInduction:
		it.ID = r.id("id")
		it.Task.Program = r.nonEmpty("code")
		it.Task.Inputs = r.strList("inputs")
		it.Task.Outputs = r.strList("outputs")
		it.Task.Message = r.str("message", true)
		switch {
		case r.err != "":
		case len(it.Task.Inputs) != len(it.Task.Outputs):
			r.fail("%d inputs but %d outputs", len(it.Task.Inputs), len(it.Task.Outputs))
		case len(it.Task.Inputs) < 2:
			r.fail("%d input/output pairs, want at least 2 (the first half is shown, all are checked)", len(it.Task.Inputs))
		}
		for i, in := range it.Task.Inputs {
			if strings.ContainsAny(in, "\n\r") {
				r.fail("inputs[%d] spans several lines; each input must be one line", i)
			}
		}
		it.Task.Imports = importLines(it.Task.Program)
	case TaskFunction:
		it.ID = r.id("task_id")
		it.Prompt = r.nonEmpty("prompt")
		it.EntryPoint = strings.TrimSpace(r.nonEmpty("entry_point"))
		it.Test = r.nonEmpty("test")
		it.Solution = r.str("canonical_solution", false)
		switch {
		case r.err != "":
		case !identifierRe.MatchString(it.EntryPoint):
			r.fail("entry_point %q is not a Python identifier", it.EntryPoint)
		case !checkDefRe.MatchString(it.Test):
			r.fail("test defines no check(candidate) function")
		}
	default:
		return Item{}, &RowError{Line: line, Reason: fmt.Sprintf("unknown task %q", task)}
	}
	if r.err != "" {
		return Item{}, &RowError{Line: line, ID: it.ID, Reason: r.err}
	}
	return it, nil
}

// importLines returns the top-level import statements of a program (lines
// that start with "import x" or "from x import"), which self-play puts in
// front of a solver's program for induction.
func importLines(program string) []string {
	var out []string
	for _, l := range strings.Split(program, "\n") {
		if importLineRe.MatchString(l) {
			out = append(out, strings.TrimRight(l, " \t\r"))
		}
	}
	return out
}

func sortRowErrors(bad []RowError) {
	sort.SliceStable(bad, func(i, j int) bool { return bad[i].Line < bad[j].Line })
}
