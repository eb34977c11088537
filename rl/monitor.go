package rl

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sync"
)

// Flag records one response that matched a concerning pattern.
type Flag struct {
	Step     int    `json:"step"`
	Batch    string `json:"batch"` // e.g. "propose_deduction", or "mc_abduction" for a learnability rollout
	Index    int    `json:"index"`
	Pattern  string `json:"pattern"`
	Match    string `json:"match"`
	Context  string `json:"context"` // up to 200 characters around the match
	Response string `json:"response"`
}

// Monitor is the "uh-oh" monitor: it flags responses matching any of its
// patterns and appends each flag as a JSON line to W (if set).
type Monitor struct {
	patterns []*regexp.Regexp
	mu       sync.Mutex
	W        io.Writer
	Count    int
}

// NewMonitor compiles the patterns.
func NewMonitor(patterns []string) (*Monitor, error) {
	m := &Monitor{}
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("uh-oh pattern %q: %w", p, err)
		}
		m.patterns = append(m.patterns, re)
	}
	return m, nil
}

// Check flags a response; it returns the flags (one per matching pattern).
func (m *Monitor) Check(step int, batch string, index int, response string) []Flag {
	if m == nil {
		return nil
	}
	var flags []Flag
	for _, re := range m.patterns {
		loc := re.FindStringIndex(response)
		if loc == nil {
			continue
		}
		lo, hi := max(0, loc[0]-100), min(len(response), loc[1]+100)
		flags = append(flags, Flag{Step: step, Batch: batch, Index: index, Pattern: re.String(),
			Match: response[loc[0]:loc[1]], Context: response[lo:hi], Response: response})
	}
	if len(flags) > 0 {
		m.mu.Lock()
		m.Count += len(flags)
		if m.W != nil {
			enc := json.NewEncoder(m.W)
			for _, f := range flags {
				_ = enc.Encode(f)
			}
		}
		m.mu.Unlock()
	}
	return flags
}
