package nano

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
)

// The nano base model's tokenizer: byte-level BPE (the GPT-2 family's scheme)
// with Qwen2's pre-tokenizer, trained on the corpus by TrainTokenizer. Its
// vocabulary is written into the model's GGUF (tokenizer model "gpt2",
// pre-tokenizer "qwen2"), and Encode gives exactly the ids llama.cpp gives for
// that GGUF, so text tokenized here for pretraining matches what the engine
// sees at run time.
//
// Vocabulary layout: ids 0..255 are the single bytes (id = byte value), then one
// id per learned merge result, then the special tokens <|endoftext|> (end of
// text, end of turn and padding), <|im_start|> and <|im_end|> (so the chatml
// template can be written).

// Special token texts.
const (
	EndOfText = "<|endoftext|>"
	IMStart   = "<|im_start|>"
	IMEnd     = "<|im_end|>"
)

// llama.cpp token types written into the GGUF.
const (
	TokenTypeNormal  int32 = 1
	TokenTypeControl int32 = 3
)

// byteRunes maps each byte to the printable character GPT-2-style vocabularies
// use for it: printable Latin-1 bytes stand for themselves, every other byte
// (controls, space, DEL, NBSP, soft hyphen) is shifted to U+0100 and up in
// byte order. Token texts in a GGUF are written in this form.
var byteRunes, runeBytes = func() (b2r [256]rune, r2b map[rune]byte) {
	r2b = make(map[rune]byte, 256)
	shifted := rune(0)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			b2r[b] = rune(b)
		} else {
			b2r[b] = 256 + shifted
			shifted++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

// byteText renders raw bytes in the GGUF token form.
func byteText(raw []byte) string {
	var sb strings.Builder
	for _, b := range raw {
		sb.WriteRune(byteRunes[b])
	}
	return sb.String()
}

// textBytes inverts byteText.
func textBytes(text string) ([]byte, error) {
	out := make([]byte, 0, len(text))
	for _, r := range text {
		b, ok := runeBytes[r]
		if !ok {
			return nil, fmt.Errorf("token text %q has %q, which is not a byte-level character", text, r)
		}
		out = append(out, b)
	}
	return out, nil
}

// Merge is one learned BPE rule: tokens Left and Right become Result.
type Merge struct{ Left, Right, Result int32 }

func pairKey(left, right int32) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

// Tokenizer is a trained byte-level BPE tokenizer. Safe for concurrent use.
type Tokenizer struct {
	pieces   [][]byte // id -> raw bytes (special tokens: their text)
	merges   []Merge  // by rank: lower ranks merge first
	rank     map[uint64]int32
	specials []int32 // special token ids, longest text first (llama.cpp's matching order)
	eot      int32
	imStart  int32
	imEnd    int32

	mu    sync.RWMutex
	cache map[string][]int32 // word bytes -> ids
}

const wordCacheLimit = 1 << 17

// newTokenizer builds a tokenizer from byte pieces and merges (ranks in order).
// pieces[0..255] must be the single bytes; the specials follow the merges.
func newTokenizer(pieces [][]byte, merges []Merge, specials []string) (*Tokenizer, error) {
	if len(pieces) < 256+len(specials) {
		return nil, fmt.Errorf("tokenizer: %d tokens, need at least the 256 bytes and %d specials", len(pieces), len(specials))
	}
	for b := 0; b < 256; b++ {
		if len(pieces[b]) != 1 || pieces[b][0] != byte(b) {
			return nil, fmt.Errorf("tokenizer: token %d must be the single byte %#02x", b, b)
		}
	}
	t := &Tokenizer{pieces: pieces, merges: merges, rank: make(map[uint64]int32, len(merges)), cache: map[string][]int32{}}
	n := int32(len(pieces))
	seen := make(map[string]int32, len(pieces))
	for id, p := range pieces[:len(pieces)-len(specials)] {
		if prev, dup := seen[string(p)]; dup {
			return nil, fmt.Errorf("tokenizer: tokens %d and %d have the same bytes %q", prev, id, p)
		}
		seen[string(p)] = int32(id)
	}
	for r, m := range merges {
		for _, id := range [3]int32{m.Left, m.Right, m.Result} {
			if id < 0 || id >= n-int32(len(specials)) {
				return nil, fmt.Errorf("tokenizer: merge %d names token %d outside the vocabulary", r, id)
			}
		}
		if string(pieces[m.Left])+string(pieces[m.Right]) != string(pieces[m.Result]) {
			return nil, fmt.Errorf("tokenizer: merge %d: %q + %q is not token %d %q", r, pieces[m.Left], pieces[m.Right], m.Result, pieces[m.Result])
		}
		k := pairKey(m.Left, m.Right)
		if _, dup := t.rank[k]; dup {
			return nil, fmt.Errorf("tokenizer: merge %d repeats the pair %q %q", r, pieces[m.Left], pieces[m.Right])
		}
		t.rank[k] = int32(r)
	}
	base := n - int32(len(specials))
	for i, s := range specials {
		if string(pieces[base+int32(i)]) != s {
			return nil, fmt.Errorf("tokenizer: token %d must be the special %q", base+int32(i), s)
		}
		t.specials = append(t.specials, base+int32(i))
	}
	sort.SliceStable(t.specials, func(i, j int) bool { return len(pieces[t.specials[i]]) > len(pieces[t.specials[j]]) })
	t.eot, t.imStart, t.imEnd = base, base+1, base+2
	return t, nil
}

// VocabSize is the number of tokens, specials included.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// EndOfText is the id of <|endoftext|>: end of a document, end of generation, padding.
func (t *Tokenizer) EndOfText() int32 { return t.eot }

// IMStart and IMEnd are the ids of the chatml turn markers.
func (t *Tokenizer) IMStart() int32 { return t.imStart }
func (t *Tokenizer) IMEnd() int32   { return t.imEnd }

// IsSpecial reports whether id is one of the special tokens.
func (t *Tokenizer) IsSpecial(id int32) bool { return id >= t.eot && int(id) < len(t.pieces) }

// Encode returns the token ids of text. With parseSpecial, the texts of special
// tokens (such as <|im_start|>) become those tokens; without it they are plain
// text. No BOS is added (the nano base, like Qwen, has none).
func (t *Tokenizer) Encode(text string, parseSpecial bool) ([]int32, error) {
	out := make([]int32, 0, len(text)/3+1)
	var err error
	t.forEachFragment(text, parseSpecial, func(frag string, special int32) {
		if err != nil {
			return
		}
		if special >= 0 {
			out = append(out, special)
			return
		}
		err = splitWords(frag, func(word []byte) { out = t.appendWord(out, word) })
	})
	if err != nil {
		return nil, fmt.Errorf("tokenize: %w", err)
	}
	return out, nil
}

// forEachFragment cuts text at special-token texts (when parseSpecial) the way
// llama.cpp does: for each special, longest text first, every remaining text
// fragment is split at each of its occurrences.
func (t *Tokenizer) forEachFragment(text string, parseSpecial bool, visit func(frag string, special int32)) {
	type fragment struct {
		text    string
		special int32
	}
	frags := []fragment{{text, -1}}
	if parseSpecial {
		for _, id := range t.specials {
			st := string(t.pieces[id])
			var next []fragment
			for _, f := range frags {
				if f.special >= 0 || !strings.Contains(f.text, st) {
					next = append(next, f)
					continue
				}
				parts := strings.Split(f.text, st)
				for i, p := range parts {
					if i > 0 {
						next = append(next, fragment{special: id})
					}
					if p != "" {
						next = append(next, fragment{p, -1})
					}
				}
			}
			frags = next
		}
	}
	for _, f := range frags {
		visit(f.text, f.special)
	}
}

// appendWord appends the ids of one pre-tokenized word.
func (t *Tokenizer) appendWord(out []int32, word []byte) []int32 {
	t.mu.RLock()
	ids, ok := t.cache[string(word)]
	t.mu.RUnlock()
	if ok {
		return append(out, ids...)
	}
	ids = t.mergeWord(word)
	t.mu.Lock()
	if len(t.cache) >= wordCacheLimit {
		t.cache = map[string][]int32{}
	}
	t.cache[string(word)] = ids
	t.mu.Unlock()
	return append(out, ids...)
}

// mergeWord applies the merges to one word: repeatedly the adjacent pair with
// the lowest rank, the leftmost one among equals (llama.cpp's order).
func (t *Tokenizer) mergeWord(word []byte) []int32 {
	syms := make([]int32, len(word))
	for i, b := range word {
		syms[i] = int32(b)
	}
	for len(syms) > 1 {
		best, bestRank := -1, int32(len(t.merges))
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := t.rank[pairKey(syms[i], syms[i+1])]; ok && r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		syms[best] = t.merges[bestRank].Result
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	return syms
}

// Decode returns the text of ids; special tokens are written as their text.
// Byte sequences that are not valid UTF-8 are kept as they are.
func (t *Tokenizer) Decode(ids []int32) (string, error) {
	var sb strings.Builder
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.pieces) {
			return "", fmt.Errorf("detokenize: token id %d is outside the vocabulary (0..%d)", id, len(t.pieces)-1)
		}
		sb.Write(t.pieces[id])
	}
	return sb.String(), nil
}

// Piece returns the raw bytes of one token (a special token's text for specials).
func (t *Tokenizer) Piece(id int32) []byte { return t.pieces[id] }

// GGUFVocab is the tokenizer as a GGUF stores it: token texts in the byte-level
// form, llama.cpp token types, merges as "left right" in rank order, and the
// special ids. The model writer takes these fields as they are.
type GGUFVocab struct {
	Tokens []string `json:"tokens"`
	Types  []int32  `json:"types"`
	Merges []string `json:"merges"`
	BOS    int32    `json:"bos"`
	EOS    int32    `json:"eos"`
	EOT    int32    `json:"eot"`
	PAD    int32    `json:"pad"`
}

// GGUFVocab returns the vocabulary in GGUF form.
func (t *Tokenizer) GGUFVocab() GGUFVocab {
	v := GGUFVocab{BOS: t.eot, EOS: t.eot, EOT: t.eot, PAD: t.eot}
	for id, p := range t.pieces {
		if t.IsSpecial(int32(id)) {
			v.Tokens = append(v.Tokens, string(p))
			v.Types = append(v.Types, TokenTypeControl)
			continue
		}
		v.Tokens = append(v.Tokens, byteText(p))
		v.Types = append(v.Types, TokenTypeNormal)
	}
	for _, m := range t.merges {
		v.Merges = append(v.Merges, v.Tokens[m.Left]+" "+v.Tokens[m.Right])
	}
	return v
}

// TokenizerFromGGUFVocab rebuilds a tokenizer from its GGUF form (as written by
// GGUFVocab; special tokens last, in the order EndOfText, IMStart, IMEnd).
func TokenizerFromGGUFVocab(v GGUFVocab) (*Tokenizer, error) {
	specials := []string{EndOfText, IMStart, IMEnd}
	if len(v.Types) != len(v.Tokens) {
		return nil, fmt.Errorf("tokenizer: %d tokens but %d token types", len(v.Tokens), len(v.Types))
	}
	pieces := make([][]byte, len(v.Tokens))
	ids := make(map[string]int32, len(v.Tokens))
	for id, text := range v.Tokens {
		if v.Types[id] == TokenTypeControl {
			pieces[id] = []byte(text)
			continue
		}
		raw, err := textBytes(text)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: token %d: %w", id, err)
		}
		pieces[id] = raw
		ids[text] = int32(id)
	}
	merges := make([]Merge, len(v.Merges))
	for r, line := range v.Merges {
		left, right, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("tokenizer: merge %d %q is not \"left right\"", r, line)
		}
		l, lok := ids[left]
		rt, rok := ids[right]
		res, resok := ids[left+right]
		if !lok || !rok || !resok {
			return nil, fmt.Errorf("tokenizer: merge %d %q names a token that is not in the vocabulary", r, line)
		}
		merges[r] = Merge{l, rt, res}
	}
	return newTokenizer(pieces, merges, specials)
}

// WriteFile saves the tokenizer as JSON (its GGUF form).
func (t *Tokenizer) WriteFile(path string) error {
	data, err := json.Marshal(t.GGUFVocab())
	if err != nil {
		return err
	}
	return writeBytesAtomic(path, data)
}

// LoadTokenizer reads a tokenizer saved by WriteFile.
func LoadTokenizer(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v GGUFVocab
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := TokenizerFromGGUFVocab(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// writeBytesAtomic writes data to path through a temporary file and a rename, so
// a crash never leaves a half-written file behind.
func writeBytesAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
