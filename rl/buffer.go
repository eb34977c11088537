package rl

import (
	"fmt"
	"math/rand/v2"
)

// Buffer holds the tasks of one type (docs/AZR.md §6). Entries are kept in
// insertion order; each records the step that added it.
type Buffer struct {
	Entries  []Task `json:"entries"`
	Capacity int    `json:"capacity"`
	// Eviction applies when a new entry arrives at capacity: "oldest"
	// (default) drops the oldest entry, "uniform" drops a uniformly chosen
	// existing entry, "drop_new" drops the new entry (the reference, Q10).
	Eviction string `json:"eviction"`
	Dedup    bool   `json:"dedup"` // refuse entries whose content is already present

	Added      int `json:"added"`      // entries accepted so far
	Evicted    int `json:"evicted"`    // entries dropped to make room (or refused under drop_new)
	Duplicates int `json:"duplicates"` // entries refused as duplicates

	seen map[string]int
}

// NewBuffer returns an empty buffer.
func NewBuffer(capacity int, eviction string, dedup bool) *Buffer {
	return &Buffer{Capacity: capacity, Eviction: eviction, Dedup: dedup}
}

// Len is the number of entries.
func (b *Buffer) Len() int { return len(b.Entries) }

func (b *Buffer) index() {
	if b.seen != nil || !b.Dedup {
		return
	}
	b.seen = make(map[string]int, len(b.Entries))
	for i := range b.Entries {
		b.seen[b.Entries[i].key()]++
	}
}

func (b *Buffer) removeAt(i int) {
	if b.seen != nil {
		k := b.Entries[i].key()
		if b.seen[k]--; b.seen[k] <= 0 {
			delete(b.seen, k)
		}
	}
	b.Entries = append(b.Entries[:i], b.Entries[i+1:]...)
}

// Add appends t and applies the capacity policy; rng is used only by the
// "uniform" policy. It reports whether t was stored.
func (b *Buffer) Add(t Task, rng *rand.Rand) bool {
	b.index()
	if b.Dedup {
		if b.seen[t.key()] > 0 {
			b.Duplicates++
			return false
		}
	}
	if b.Capacity > 0 && len(b.Entries) >= b.Capacity {
		switch b.Eviction {
		case "drop_new":
			b.Evicted++
			return false
		case "uniform":
			b.removeAt(rng.IntN(len(b.Entries)))
		default:
			b.removeAt(0)
		}
		b.Evicted++
	}
	b.Entries = append(b.Entries, t)
	if b.seen != nil {
		b.seen[t.key()]++
	}
	b.Added++
	return true
}

// sampleIndices draws k distinct indices of [0,n) uniformly (k <= n), in draw order.
func sampleIndices(rng *rand.Rand, n, k int) []int {
	if k > n {
		k = n
	}
	// Partial Fisher-Yates over a sparse permutation: O(k) time and memory.
	swapped := make(map[int]int, k)
	at := func(i int) int {
		if v, ok := swapped[i]; ok {
			return v
		}
		return i
	}
	out := make([]int, k)
	for i := 0; i < k; i++ {
		j := i + rng.IntN(n-i)
		vi, vj := at(i), at(j)
		swapped[i], swapped[j] = vj, vi
		out[i] = vj
	}
	return out
}

// References draws min(k, Len) distinct entries as proposer references:
// uniformly (strategy "uniform", the reference default) or with weight
// step+1 ("step").
func (b *Buffer) References(rng *rand.Rand, k int, strategy string) []Task {
	n := len(b.Entries)
	if k > n {
		k = n
	}
	var idx []int
	if strategy == "step" {
		w := make([]float64, n)
		total := 0.0
		for i := range b.Entries {
			w[i] = float64(b.Entries[i].Step + 1)
			total += w[i]
		}
		for len(idx) < k {
			x := rng.Float64() * total
			j := 0
			for ; j < n-1; j++ {
				if w[j] == 0 {
					continue
				}
				if x < w[j] {
					break
				}
				x -= w[j]
			}
			for w[j] == 0 { // rounding at the end: take the last live entry
				j--
			}
			idx = append(idx, j)
			total -= w[j]
			w[j] = 0
		}
	} else {
		idx = sampleIndices(rng, n, k)
	}
	out := make([]Task, len(idx))
	for i, j := range idx {
		out[i] = b.Entries[j]
	}
	return out
}

// SolverBatch draws n tasks for a solver batch at step `step`.
//
// mix "max_new" (reference default): first up to n of the recent entries
// (added at steps >= step-window), uniformly without replacement; then fill
// uniformly without replacement from the entries not yet taken (the
// reference filled from the whole buffer, which could repeat recent ones);
// then, if the buffer is smaller than n, repeat uniformly chosen picks.
// mix "uniform": n uniformly from the whole buffer, then repeats.
func (b *Buffer) SolverBatch(rng *rand.Rand, n, step, window int, mix string) []Task {
	if len(b.Entries) == 0 || n <= 0 {
		return nil
	}
	var picked []int
	taken := make(map[int]bool)
	if mix == "max_new" {
		var recent []int
		for i := range b.Entries {
			if b.Entries[i].Step >= step-window {
				recent = append(recent, i)
			}
		}
		for _, j := range sampleIndices(rng, len(recent), n) {
			picked = append(picked, recent[j])
			taken[recent[j]] = true
		}
	}
	if len(picked) < n {
		var rest []int
		for i := range b.Entries {
			if !taken[i] {
				rest = append(rest, i)
			}
		}
		for _, j := range sampleIndices(rng, len(rest), n-len(picked)) {
			picked = append(picked, rest[j])
		}
	}
	for base := len(picked); len(picked) < n; {
		picked = append(picked, picked[rng.IntN(base)])
	}
	out := make([]Task, n)
	for i, j := range picked {
		out[i] = b.Entries[j]
	}
	return out
}

// Buffers holds the three task buffers of a run.
type Buffers struct {
	Deduction *Buffer `json:"deduction"`
	Abduction *Buffer `json:"abduction"`
	Induction *Buffer `json:"induction"`
}

// NewBuffers returns buffers seeded with the zero triplet (deduction and
// abduction) and the identity induction task, all at step 0.
func NewBuffers(cfg *Config) *Buffers {
	bs := &Buffers{
		Deduction: NewBuffer(cfg.MaxPrograms, cfg.Eviction, cfg.Dedup),
		Abduction: NewBuffer(cfg.MaxPrograms, cfg.Eviction, cfg.Dedup),
		Induction: NewBuffer(cfg.MaxPrograms, cfg.Eviction, cfg.Dedup),
	}
	bs.Deduction.Add(ZeroTriplet(), nil)
	bs.Abduction.Add(ZeroTriplet(), nil)
	bs.Induction.Add(ZeroInduction(), nil)
	return bs
}

// Of returns the buffer of a task type.
func (bs *Buffers) Of(t TaskType) *Buffer {
	switch t {
	case Deduction:
		return bs.Deduction
	case Abduction:
		return bs.Abduction
	case Induction:
		return bs.Induction
	}
	panic(fmt.Sprintf("rl: no buffer for %v", t))
}

// InductionPrograms lists the programs (with their imports) an induction
// proposal can be built on: every abduction and deduction entry (a program
// in both counts twice, as in the reference), or, with fromBoth=false, each
// distinct program text once. Induction proposers draw from it uniformly.
func (bs *Buffers) InductionPrograms(fromBoth bool) []Task {
	out := make([]Task, 0, bs.Abduction.Len()+bs.Deduction.Len())
	seen := map[string]bool{}
	for _, b := range []*Buffer{bs.Abduction, bs.Deduction} {
		for i := range b.Entries {
			e := &b.Entries[i]
			if !fromBoth {
				if seen[e.Program] {
					continue
				}
				seen[e.Program] = true
			}
			out = append(out, Task{Program: e.Program, Imports: e.Imports})
		}
	}
	return out
}
