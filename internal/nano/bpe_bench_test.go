package nano

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkEncode compares the Go encoder (which the pretraining driver runs
// over the whole corpus, document by document) with llama.cpp's tokenizer on
// the same vocabulary and documents; report the ratio of their MB/s.
func BenchmarkEncode(b *testing.B) {
	docs := sampleCorpus(200)
	opts := DefaultTokenizerOptions()
	opts.VocabSize = 700
	tok, err := TrainTokenizer(context.Background(), docs, opts, nil)
	if err != nil {
		b.Fatal(err)
	}
	size := int64(len(strings.Join(docs, "")))
	b.Run("go", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			for _, d := range docs {
				if _, err := tok.Encode(d, true); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("go-uncached", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			tok.mu.Lock()
			tok.cache = map[string][]int32{}
			tok.mu.Unlock()
			for _, d := range docs {
				if _, err := tok.Encode(d, true); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("llama.cpp", func(b *testing.B) {
		m := writeVocabModel(b, tok)
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			for _, d := range docs {
				if _, err := m.Tokenize(d, false, true); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
