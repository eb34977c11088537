package nano

import (
	"container/heap"
	"context"
	"fmt"
	"sort"
	"strings"

	"go.uber.org/zap"
)

// TokenizerOptions configure TrainTokenizer.
type TokenizerOptions struct {
	VocabSize int // total tokens: 256 bytes + learned merges + 3 specials
	// MaxBytes bounds how much of the text is read for counting words (the
	// first documents, in order); 0 reads everything.
	MaxBytes int
	// MinCount stops learning when the most frequent pair occurs fewer times.
	MinCount int
}

// DefaultTokenizerOptions suit the nano base: a 2048-token vocabulary keeps the
// embedding table small while covering the corpus' identifiers and keywords.
func DefaultTokenizerOptions() TokenizerOptions {
	return TokenizerOptions{VocabSize: 2048, MaxBytes: 16 << 20, MinCount: 2}
}

// TrainTokenizer learns byte-level BPE merges from texts. Special-token texts
// in the input are cut out (never learned), words come from the same
// pre-tokenizer Encode uses, and the most frequent adjacent pair is merged
// first, ties broken by the smaller (left, right) ids: the same texts and
// options always give the same tokenizer.
func TrainTokenizer(ctx context.Context, texts []string, opts TokenizerOptions, logger *zap.Logger) (*Tokenizer, error) {
	specials := []string{EndOfText, IMStart, IMEnd}
	if opts.VocabSize < 256+len(specials)+1 {
		return nil, fmt.Errorf("tokenizer: vocabulary size %d is too small (at least %d: 256 bytes, %d specials and one merge)", opts.VocabSize, 256+len(specials)+1, len(specials))
	}
	if opts.MinCount < 1 {
		opts.MinCount = 1
	}
	if logger == nil {
		logger = zap.NewNop()
	}

	// Count words.
	counts := map[string]int64{}
	read := 0
	for _, text := range texts {
		if opts.MaxBytes > 0 && read >= opts.MaxBytes {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		read += len(text)
		for _, frag := range splitOnSpecials(text, specials) {
			if err := splitWords(frag, func(w []byte) { counts[string(w)]++ }); err != nil {
				return nil, fmt.Errorf("tokenizer: %w", err)
			}
		}
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Strings(words)
	logger.Info("tokenizer: counted words", zap.Int("bytes", read), zap.Int("distinct_words", len(words)))

	bt := newBPETrainer(words, counts)
	pieces := make([][]byte, 256, opts.VocabSize)
	for b := range pieces {
		pieces[b] = []byte{byte(b)}
	}
	byText := map[string]int32{}
	for b, p := range pieces {
		byText[string(p)] = int32(b)
	}
	var merges []Merge
	target := opts.VocabSize - len(specials)
	for len(pieces) < target {
		if len(merges)%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		left, right, count, ok := bt.best()
		if !ok || count < int64(opts.MinCount) {
			break
		}
		text := string(pieces[left]) + string(pieces[right])
		result, exists := byText[text]
		if !exists {
			result = int32(len(pieces))
			pieces = append(pieces, []byte(text))
			byText[text] = result
		}
		merges = append(merges, Merge{left, right, result})
		bt.apply(left, right, result)
	}
	for _, s := range specials {
		pieces = append(pieces, []byte(s))
	}
	logger.Info("tokenizer: trained", zap.Int("vocab", len(pieces)), zap.Int("merges", len(merges)))
	return newTokenizer(pieces, merges, specials)
}

// splitOnSpecials returns the pieces of text between special-token texts.
func splitOnSpecials(text string, specials []string) []string {
	frags := []string{text}
	for _, s := range specials {
		var next []string
		for _, f := range frags {
			for _, p := range strings.Split(f, s) {
				if p != "" {
					next = append(next, p)
				}
			}
		}
		frags = next
	}
	return frags
}

// bpeTrainer keeps pair counts over the distinct words incrementally: a merge
// only revisits the words that contain its pair.
type bpeTrainer struct {
	syms      [][]int32 // per distinct word: its current tokens
	freq      []int64   // per distinct word: occurrences
	pairCount map[uint64]int64
	pairWords map[uint64][]int32 // words that contain (or once contained) the pair
	visited   []int              // per word: last merge that visited it (dedups pairWords)
	merge     int
	queue     pairHeap
}

func newBPETrainer(words []string, counts map[string]int64) *bpeTrainer {
	bt := &bpeTrainer{
		syms: make([][]int32, len(words)), freq: make([]int64, len(words)), visited: make([]int, len(words)),
		pairCount: map[uint64]int64{}, pairWords: map[uint64][]int32{},
	}
	for w, text := range words {
		s := make([]int32, len(text))
		for i := 0; i < len(text); i++ {
			s[i] = int32(text[i])
		}
		bt.syms[w], bt.freq[w] = s, counts[text]
		for i := 0; i+1 < len(s); i++ {
			k := pairKey(s[i], s[i+1])
			bt.pairCount[k] += counts[text]
			if ws := bt.pairWords[k]; len(ws) == 0 || ws[len(ws)-1] != int32(w) {
				bt.pairWords[k] = append(ws, int32(w))
			}
		}
	}
	for k, c := range bt.pairCount {
		bt.queue = append(bt.queue, pairEntry{k, c})
	}
	heap.Init(&bt.queue)
	return bt
}

// best returns the most frequent pair (ties: smallest left, then right id).
func (bt *bpeTrainer) best() (left, right int32, count int64, ok bool) {
	for bt.queue.Len() > 0 {
		e := heap.Pop(&bt.queue).(pairEntry)
		if bt.pairCount[e.key] != e.count || e.count <= 0 {
			continue // stale: the count changed after this entry was queued
		}
		heap.Push(&bt.queue, e) // keep it until apply removes it
		return int32(e.key >> 32), int32(uint32(e.key)), e.count, true
	}
	return 0, 0, 0, false
}

// apply merges every occurrence of (left, right) into result, left to right.
func (bt *bpeTrainer) apply(left, right, result int32) {
	bt.merge++
	key := pairKey(left, right)
	changed := map[uint64]struct{}{}
	bump := func(k uint64, d int64) {
		bt.pairCount[k] += d
		changed[k] = struct{}{}
	}
	for _, w := range bt.pairWords[key] {
		if bt.visited[w] == bt.merge {
			continue
		}
		bt.visited[w] = bt.merge
		s, f := bt.syms[w], bt.freq[w]
		if !containsPair(s, left, right) {
			continue
		}
		for i := 0; i+1 < len(s); i++ {
			bump(pairKey(s[i], s[i+1]), -f)
		}
		merged := s[:0:0]
		for i := 0; i < len(s); i++ {
			if i+1 < len(s) && s[i] == left && s[i+1] == right {
				merged = append(merged, result)
				i++
				continue
			}
			merged = append(merged, s[i])
		}
		bt.syms[w] = merged
		for i := 0; i+1 < len(merged); i++ {
			k := pairKey(merged[i], merged[i+1])
			bump(k, f)
			if merged[i] == result || merged[i+1] == result {
				if ws := bt.pairWords[k]; len(ws) == 0 || ws[len(ws)-1] != w {
					bt.pairWords[k] = append(ws, w)
				}
			}
		}
	}
	delete(bt.pairWords, key)
	keys := make([]uint64, 0, len(changed))
	for k := range changed {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		if c := bt.pairCount[k]; c > 0 {
			heap.Push(&bt.queue, pairEntry{k, c})
		} else {
			delete(bt.pairCount, k)
		}
	}
}

func containsPair(s []int32, left, right int32) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == left && s[i+1] == right {
			return true
		}
	}
	return false
}

type pairEntry struct {
	key   uint64
	count int64
}

// pairHeap orders by count (largest first), then by key (smallest left, right).
type pairHeap []pairEntry

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].count != h[j].count {
		return h[i].count > h[j].count
	}
	return h[i].key < h[j].key
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pairEntry)) }
func (h *pairHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
