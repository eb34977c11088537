package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Responses are given responses by item id, in file order.
type Responses map[string][]string

// ReadResponsesFile reads JSON lines {"id": ..., "response": "..."} or
// {"id": ..., "responses": ["...", ...]} ("task_id" may stand for "id").
// Rows with the same id add samples to that item. Every row must be usable:
// a response that cannot be read is an error (with its line), never skipped.
func ReadResponsesFile(path string) (Responses, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadResponses(f, path)
}

// ReadResponses is ReadResponsesFile over any reader.
func ReadResponses(r io.Reader, name string) (Responses, error) {
	out := Responses{}
	var bad []RowError
	br := bufio.NewReader(r)
	rows := 0
	for line := 1; ; line++ {
		text, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: line %d: %w", name, line, err)
		}
		if t := bytes.TrimSpace(text); len(t) > 0 {
			rows++
			id, resps, rerr := parseResponseRow(t, line)
			if rerr != nil {
				bad = append(bad, *rerr)
			} else {
				out[id] = append(out[id], resps...)
			}
		}
		if err == io.EOF {
			break
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: %d bad response rows:\n%w", name, len(bad), listRowErrors(bad))
	}
	if rows == 0 {
		return nil, fmt.Errorf("%s: no responses (want JSON lines {\"id\": ..., \"response\": \"...\"})", name)
	}
	return out, nil
}

func parseResponseRow(text []byte, line int) (string, []string, *RowError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(text, &fields); err != nil || fields == nil {
		reason := "want a JSON object, not " + jsonKind(text)
		if !json.Valid(text) {
			reason = "bad JSON: " + fmt.Sprint(err)
		}
		return "", nil, &RowError{Line: line, Reason: reason}
	}
	r := &row{fields: fields}
	idField := "id"
	if _, ok := fields["id"]; !ok {
		if _, ok := fields["task_id"]; ok {
			idField = "task_id"
		}
	}
	id := r.id(idField)
	_, one := fields["response"]
	_, many := fields["responses"]
	var resps []string
	switch {
	case r.err != "":
	case one && many:
		r.fail("has both \"response\" and \"responses\"; give one")
	case one:
		resps = []string{r.str("response", true)}
	case many:
		resps = r.strList("responses")
		if r.err == "" && len(resps) == 0 {
			r.fail("field \"responses\" is empty")
		}
	default:
		r.fail("missing field \"response\" (or \"responses\")")
	}
	if r.err != "" {
		return "", nil, &RowError{Line: line, ID: id, Reason: r.err}
	}
	return id, resps, nil
}
