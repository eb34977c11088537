package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"fmt"

	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/nats-io/nats.go"
)

// Subjects, streams and buckets. A trainer and its workers agree on these
// names; one NATS account serves one run at a time.
const (
	sandboxStream   = "AZR_SANDBOX"
	generateStream  = "AZR_GENERATE"
	resultStream    = "AZR_RESULTS"
	sandboxSubject  = "azr.work.sandbox"
	generateSubject = "azr.work.generate"
	resultPrefix    = "azr.result." // + session + "." + id
	sandboxDurable  = "sandbox-workers"
	generateDurable = "generate-workers"
	adapterBucket   = "azr_adapters"
	workerBucket    = "azr_workers"
	runBucket       = "azr_run"
)

// Message headers. Every request and result carries a checksum of its body,
// so a message damaged on the way (or garbage from a broken worker) is
// recognised and its work redone instead of being trusted.
const (
	hdrSession = "Azr-Session" // the trainer session a request belongs to
	hdrID      = "Azr-Id"      // the request's id within the session
	hdrSum     = "Azr-Sum"     // sha256 of the body, hex
	hdrWorker  = "Azr-Worker"  // the worker that produced a result
	hdrElapsed = "Azr-Work-Ns" // the worker's time on the request, ns
)

// Executor operations.
const (
	opValidate       = "validate"
	opValidateInputs = "validate_inputs"
	opCheckOutput    = "check_output"
	opCheckInput     = "check_input"
	opCheckProgram   = "check_program"
	opRun            = "run"
)

// sandboxRequest is one rl.Executor call.
type sandboxRequest struct {
	Op        string
	Program   string
	Inputs    []string
	Outputs   []string
	Imports   []string
	Input     string // opRun
	Gold      string
	Predicted string
	// Policy is the trainer's execution policy (timeout, banned modules),
	// which must equal the worker's own: a worker never relaxes its rules for
	// a trainer, and a trainer never gets verdicts under other rules.
	Policy ExecPolicy
}

// sandboxResult answers a sandboxRequest.
type sandboxResult struct {
	Validation sandbox.Validation
	Run        sandbox.Result // opRun
	OK         bool
	Err        string // the executor's error, as the in-process call would have returned it
	// gob sends an empty slice as nil; these keep the difference, so a
	// remote verdict is the local one exactly (it ends up in checkpoints).
	EmptyOutputs, EmptyImports bool
}

// marshalled notes which slices are empty but not nil.
func (r sandboxResult) marshalled() sandboxResult {
	r.EmptyOutputs = r.Validation.Outputs != nil && len(r.Validation.Outputs) == 0
	r.EmptyImports = r.Validation.Imports != nil && len(r.Validation.Imports) == 0
	return r
}

// unmarshalled restores the empty slices.
func (r sandboxResult) unmarshalled() sandboxResult {
	if r.EmptyOutputs {
		r.Validation.Outputs = []string{}
	}
	if r.EmptyImports {
		r.Validation.Imports = []string{}
	}
	r.EmptyOutputs, r.EmptyImports = false, false
	return r
}

// generateRequest is one batched engine call: requests that share sampling
// settings, in the order the in-process engine would pass them.
type generateRequest struct {
	Base    string // fingerprint of the base GGUF (sha256 of the file)
	Adapter string // object name of the adapter version to sample from
	Ctx     int    // the trainer's generator settings: results depend on them
	Slots   int
	Reqs    []rl.GenRequest
}

// generateResult answers a generateRequest.
type generateResult struct {
	Results []rl.GenResult
	Err     string
}

// restoreEmpty gives decoded results the non-nil empty slices the engine
// returns (gob sends those as nil).
func (r *generateResult) restoreEmpty() {
	for i := range r.Results {
		g := &r.Results[i]
		if g.PromptTokens == nil {
			g.PromptTokens = []int32{}
		}
		for j := range g.Samples {
			s := &g.Samples[j]
			if s.Tokens == nil {
				s.Tokens = []int32{}
			}
			if s.LogProbs == nil {
				s.LogProbs = []float32{}
			}
		}
	}
}

// encode serializes v with gob: strings travel as bytes (model text need not
// be valid UTF-8) and float32 log-probs exactly.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decode checks body against its checksum header and deserializes it.
func decode(h nats.Header, body []byte, v any) error {
	want := h.Get(hdrSum)
	if want == "" {
		return fmt.Errorf("no %s header", hdrSum)
	}
	if got := checksum(body); got != want {
		return fmt.Errorf("checksum mismatch: body %s, header %s", got[:12], abbreviate(want))
	}
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(v); err != nil {
		return fmt.Errorf("undecodable body: %w", err)
	}
	return nil
}

func checksum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func abbreviate(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
