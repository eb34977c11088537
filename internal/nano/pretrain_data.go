package nano

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// CorpusFile is the corpus inside a data directory written by `nano data`.
const CorpusFile = "corpus.jsonl"

// splitHeldOut puts a document in the held-out split when a hash of the seed
// and its text falls under percent: stable under reordering and additions.
func splitHeldOut(docs []Document, seed uint64, percent float64) (train, heldOut []Document) {
	limit := uint64(percent * 100)
	for _, d := range docs {
		h := fnv.New64a()
		var s [8]byte
		binary.LittleEndian.PutUint64(s[:], seed)
		h.Write(s[:])
		h.Write([]byte(d.Text))
		if h.Sum64()%10000 < limit {
			heldOut = append(heldOut, d)
		} else {
			train = append(train, d)
		}
	}
	return train, heldOut
}

// tokenStream tokenizes documents (special tokens parsed: transcripts may be
// written in the chatml template) and joins them, each followed by
// <|endoftext|>, in an order shuffled by seed. A transcript's prompt and
// response are tokenized apart, as at run time, where the engine tokenizes
// the prompt alone and the response is generated after it.
func tokenStream(ctx context.Context, tok *Tokenizer, docs []Document, seed uint64, workers int) ([]uint16, error) {
	order := make([]int, len(docs))
	for i := range order {
		order[i] = i
	}
	rand.New(rand.NewPCG(seed, 0x5eed)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	ids := make([][]int32, len(docs))
	if workers < 1 {
		workers = runtime.NumCPU()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d := docs[i]
				out, err := tok.Encode(d.Text[:d.PromptBytes], true)
				if err == nil {
					var resp []int32
					resp, err = tok.Encode(d.Text[d.PromptBytes:], true)
					out = append(out, resp...)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("document %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				ids[i] = out
			}
		}()
	}
	for i := range docs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	var stream []uint16
	for _, i := range order {
		for _, id := range ids[i] {
			stream = append(stream, uint16(id))
		}
		stream = append(stream, uint16(tok.EndOfText()))
	}
	return stream, nil
}

// rowCount is the number of training rows of seqLen+1 tokens (inputs and
// next-token targets) a stream holds; rows overlap by one token.
func rowCount(stream []uint16, seqLen int) int {
	if len(stream) < seqLen+1 {
		return 0
	}
	return (len(stream) - 1) / seqLen
}

// appendRow appends row r of the stream as int32 ids.
func appendRow(dst []int32, stream []uint16, seqLen, r int) []int32 {
	for _, id := range stream[r*seqLen : r*seqLen+seqLen+1] {
		dst = append(dst, int32(id))
	}
	return dst
}

// batchRows returns the stream rows of optimizer step `step`: rows are visited
// in a fresh seeded permutation each epoch, so any step's batch follows from
// (seed, step) alone and a resumed run sees exactly the batches a straight run does.
func batchRows(seed uint64, nRows, batch, step int) []int {
	rows := make([]int, batch)
	var perm []int
	permEpoch := -1
	for i := range rows {
		global := step*batch + i
		epoch := global / nRows
		if epoch != permEpoch {
			perm = rand.New(rand.NewPCG(seed, uint64(epoch)+1)).Perm(nRows)
			permEpoch = epoch
		}
		rows[i] = perm[global%nRows]
	}
	return rows
}

func writeTokens(path string, stream []uint16) error {
	buf := make([]byte, 2*len(stream))
	for i, id := range stream {
		binary.LittleEndian.PutUint16(buf[2*i:], id)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeBytesAtomic(path, buf)
}

func readTokens(path string) ([]uint16, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(buf)%2 != 0 {
		return nil, fmt.Errorf("%s: odd size %d, not a token file", path, len(buf))
	}
	stream := make([]uint16, len(buf)/2)
	for i := range stream {
		stream[i] = binary.LittleEndian.Uint16(buf[2*i:])
	}
	return stream, nil
}
