package rl

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func bufferOf(n int, step func(i int) int) *Buffer {
	b := NewBuffer(0, "oldest", false)
	for i := 0; i < n; i++ {
		b.Add(Task{Program: "p" + strconv.Itoa(i), Step: step(i)}, nil)
	}
	return b
}

func idx(t Task) int { i, _ := strconv.Atoi(t.Program[1:]); return i }

func TestNewBuffersHoldTheZeroTriplet(t *testing.T) {
	cfg := DefaultConfig()
	bs := NewBuffers(&cfg)
	for _, typ := range []TaskType{Deduction, Abduction} {
		if b := bs.Of(typ); b.Len() != 1 || b.Entries[0].Program != IdentityProgram || b.Entries[0].Input != "'Hello world'" || b.Entries[0].Output != "'Hello world'" || b.Entries[0].Step != 0 {
			t.Errorf("%v buffer = %+v, want the zero triplet", typ, b.Entries)
		}
	}
	ind := bs.Induction.Entries
	if len(ind) != 1 || len(ind[0].Inputs) != 6 || ind[0].Message == "" {
		t.Fatalf("induction buffer = %+v, want the identity task with 6 inputs", ind)
	}
	gi, _, hi, _ := ind[0].InductionSplit()
	if len(gi) != 3 || len(hi) != 3 {
		t.Errorf("identity induction split %d/%d, want 3/3", len(gi), len(hi))
	}
}

// K references are distinct and each entry is equally likely.
func TestReferencesUniformAndDistinct(t *testing.T) {
	b := bufferOf(10, func(int) int { return 0 })
	rng := rand.New(rand.NewPCG(1, 2))
	const draws = 30000
	counts := make([]int, 10)
	for d := 0; d < draws; d++ {
		refs := b.References(rng, 3, "uniform")
		if len(refs) != 3 {
			t.Fatalf("got %d references, want 3", len(refs))
		}
		seen := map[int]bool{}
		for _, r := range refs {
			if seen[idx(r)] {
				t.Fatalf("duplicate reference in %v", refs)
			}
			seen[idx(r)] = true
			counts[idx(r)]++
		}
	}
	// Each entry appears with probability 3/10; 5 standard deviations of tolerance.
	p := 0.3
	sd := math.Sqrt(draws * p * (1 - p))
	for i, c := range counts {
		if math.Abs(float64(c)-draws*p) > 5*sd {
			t.Errorf("entry %d drawn %d times, want about %.0f", i, c, draws*p)
		}
	}
	// Fewer entries than K: all of them.
	if got := bufferOf(2, func(int) int { return 0 }).References(rng, 6, "uniform"); len(got) != 2 {
		t.Errorf("got %d references from a 2-entry buffer, want 2", len(got))
	}
}

// With strategy "step" an entry's weight is step+1.
func TestReferencesStepWeighted(t *testing.T) {
	b := bufferOf(2, func(i int) int { return 3 * i }) // weights 1 and 4
	rng := rand.New(rand.NewPCG(3, 4))
	const draws = 20000
	late := 0
	for d := 0; d < draws; d++ {
		if idx(b.References(rng, 1, "step")[0]) == 1 {
			late++
		}
	}
	p := 0.8
	if sd := math.Sqrt(draws * p * (1 - p)); math.Abs(float64(late)-draws*p) > 5*sd {
		t.Errorf("newer entry drawn %d of %d times, want about %.0f", late, draws, draws*p)
	}
}

// Solver batches take the recent entries first, then fill without repeats.
func TestSolverBatchPrefersNewest(t *testing.T) {
	// 100 entries: 90 from steps 0..5, the last 10 from step 9.
	b := bufferOf(100, func(i int) int {
		if i >= 90 {
			return 9
		}
		return i % 6
	})
	rng := rand.New(rand.NewPCG(5, 6))
	const draws = 2000
	fill := make([]int, 90)
	for d := 0; d < draws; d++ {
		batch := b.SolverBatch(rng, 64, 10, 1, "max_new")
		seen := map[int]bool{}
		for _, e := range batch {
			if seen[idx(e)] {
				t.Fatalf("repeat in a batch drawn from 100 entries")
			}
			seen[idx(e)] = true
		}
		for i := 90; i < 100; i++ {
			if !seen[i] {
				t.Fatalf("recent entry %d missing from the batch", i)
			}
		}
		for i := 0; i < 90; i++ {
			if seen[i] {
				fill[i]++
			}
		}
	}
	// The 54 fill slots are uniform over the 90 older entries: p = 54/90.
	p := 54.0 / 90
	sd := math.Sqrt(draws * p * (1 - p))
	for i, c := range fill {
		if math.Abs(float64(c)-draws*p) > 5*sd {
			t.Errorf("old entry %d in %d of %d batches, want about %.0f", i, c, draws, draws*p)
		}
	}

	// More recent entries than the batch: the batch is all recent, uniformly.
	b2 := bufferOf(20, func(i int) int { return 1 })
	rec := make([]int, 20)
	for d := 0; d < draws; d++ {
		for _, e := range b2.SolverBatch(rng, 5, 2, 1, "max_new") {
			rec[idx(e)]++
		}
	}
	p = 5.0 / 20
	sd = math.Sqrt(draws * p * (1 - p))
	for i, c := range rec {
		if math.Abs(float64(c)-draws*p) > 5*sd {
			t.Errorf("recent entry %d drawn %d times, want about %.0f", i, c, draws*p)
		}
	}
}

func TestSolverBatchSmallBufferRepeats(t *testing.T) {
	b := bufferOf(3, func(int) int { return 0 })
	rng := rand.New(rand.NewPCG(7, 8))
	batch := b.SolverBatch(rng, 8, 5, 1, "max_new") // nothing recent at step 5
	if len(batch) != 8 {
		t.Fatalf("batch of %d, want 8", len(batch))
	}
	seen := map[int]int{}
	for _, e := range batch {
		seen[idx(e)]++
	}
	if len(seen) != 3 {
		t.Errorf("batch covers %d distinct entries, want all 3: %v", len(seen), seen)
	}
}

func TestBufferCapacityPolicies(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	add := func(b *Buffer, from, to int) {
		for i := from; i < to; i++ {
			b.Add(Task{Program: "p" + strconv.Itoa(i), Step: i}, rng)
		}
	}
	programs := func(b *Buffer) []int {
		var out []int
		for _, e := range b.Entries {
			out = append(out, idx(e))
		}
		return out
	}
	oldest := NewBuffer(3, "oldest", false)
	add(oldest, 0, 5)
	if got := programs(oldest); !equalInts(got, []int{2, 3, 4}) {
		t.Errorf("oldest: %v, want [2 3 4]", got)
	}
	drop := NewBuffer(3, "drop_new", false)
	add(drop, 0, 5)
	if got := programs(drop); !equalInts(got, []int{0, 1, 2}) {
		t.Errorf("drop_new (reference): %v, want [0 1 2]", got)
	}
	uni := NewBuffer(3, "uniform", false)
	add(uni, 0, 5)
	if got := programs(uni); len(got) != 3 || got[2] != 4 {
		t.Errorf("uniform: %v, want 3 entries ending with the newest (4)", got)
	}
	// Uniform eviction: after filling [0 1 2] and adding 3, each old entry is gone with p = 1/3.
	gone := make([]int, 3)
	const draws = 6000
	for d := 0; d < draws; d++ {
		u := NewBuffer(3, "uniform", false)
		add(u, 0, 4)
		present := map[int]bool{}
		for _, e := range u.Entries {
			present[idx(e)] = true
		}
		for i := 0; i < 3; i++ {
			if !present[i] {
				gone[i]++
			}
		}
	}
	p := 1.0 / 3
	sd := math.Sqrt(draws * p * (1 - p))
	for i, c := range gone {
		if math.Abs(float64(c)-draws*p) > 5*sd {
			t.Errorf("uniform eviction removed entry %d %d times, want about %.0f", i, c, draws*p)
		}
	}
}

func TestBufferDedup(t *testing.T) {
	b := NewBuffer(0, "oldest", true)
	t1 := Task{Program: "p", Input: "1", Output: "1", Step: 1}
	t2 := t1
	t2.Step, t2.Thought = 2, "other thought" // same content
	t3 := Task{Program: "p", Input: "2", Output: "2", Step: 2}
	if !b.Add(t1, nil) || b.Add(t2, nil) || !b.Add(t3, nil) {
		t.Errorf("dedup: want added, refused, added")
	}
	if b.Len() != 2 || b.Duplicates != 1 {
		t.Errorf("len %d duplicates %d, want 2 and 1", b.Len(), b.Duplicates)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestInductionProgramsCountBothBuffers(t *testing.T) {
	cfg := DefaultConfig()
	bs := NewBuffers(&cfg)
	bs.Deduction.Add(Task{Program: "def f(x):\n    return -x", Imports: []string{"import math"}}, nil)
	both := bs.InductionPrograms(true)
	if len(both) != 3 { // identity from each buffer, plus the new program
		t.Errorf("fromBoth: %d programs, want 3", len(both))
	}
	uniq := bs.InductionPrograms(false)
	if len(uniq) != 2 || uniq[1].Imports[0] != "import math" {
		t.Errorf("distinct: %+v, want identity and the new program with its imports", uniq)
	}
}
