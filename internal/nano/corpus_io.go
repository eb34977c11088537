package nano

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/azr-native/azr-native/internal/synth"
	"github.com/azr-native/azr-native/rl"
)

// WriteDocuments writes documents as JSON lines: {"kind": ..., "text": ...}
// (plus "prompt_bytes" for transcripts).
func WriteDocuments(w io.Writer, docs []Document) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadDocuments reads what WriteDocuments wrote. A malformed line, an unknown
// kind, an empty text or a prompt_bytes outside the text is an error naming
// the line.
func ReadDocuments(r io.Reader) ([]Document, error) {
	var docs []Document
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var d Document
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		switch {
		case !knownKind(d.Kind):
			return nil, fmt.Errorf("line %d: unknown kind %q (want one of %s)", line, d.Kind, strings.Join(Kinds, ", "))
		case d.Text == "":
			return nil, fmt.Errorf("line %d: empty text", line)
		case d.PromptBytes < 0 || d.PromptBytes > len(d.Text):
			return nil, fmt.Errorf("line %d: prompt_bytes %d outside the %d-byte text", line, d.PromptBytes, len(d.Text))
		}
		docs = append(docs, d)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return docs, nil
}

// ReadCorpusFile reads a corpus.jsonl.
func ReadCorpusFile(path string) ([]Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	docs, err := ReadDocuments(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return docs, nil
}

// writeFileAtomic writes data through a temporary file and a rename, so a
// reader never sees half a file.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // CreateTemp makes it private
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WriteCorpusFile writes documents to path as JSON lines.
func WriteCorpusFile(path string, docs []Document) error {
	return writeFileAtomic(path, func(w io.Writer) error { return WriteDocuments(w, docs) })
}

// WriteSeedFile writes the first n corpus tasks as seed tasks for
// `run --seed-file`: each as a triplet on its first input and as an induction
// task over all of them. They are programs the base was pretrained on, so
// starting self-play from them adds nothing the model has not seen.
func WriteSeedFile(path string, tasks []synth.Task, n int) error {
	return writeFileAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		for _, t := range tasks[:min(max(n, 0), len(tasks))] {
			for _, task := range []rl.Task{t.Triplet(), t.Induction()} {
				if err := enc.Encode(task); err != nil {
					return err
				}
			}
		}
		return bw.Flush()
	})
}

// writeRows writes a slice of rows as JSON lines.
func writeRows(w io.Writer, rows any) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	switch rs := rows.(type) {
	case []CruxRow:
		for _, r := range rs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	case []InductionRow:
		for _, r := range rs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("writeRows: unsupported %T", rows)
	}
	return bw.Flush()
}
