package nano

import (
	"errors"
	"unicode"
)

// This file is the pre-tokenizer: it cuts text into the "words" that BPE merges
// never cross, exactly as llama.cpp does for a GGUF whose tokenizer model is
// "gpt2" and whose pre-tokenizer is "qwen2". Matching llama.cpp byte for byte
// matters: the model is trained on ids from this Go code and then run by
// llama.cpp, which tokenizes prompts itself.
//
// Facts about the pinned llama.cpp that this code reproduces (own code, written
// from reading its source):
//   - Text is decoded to code points leniently: a byte that does not start a
//     well-formed sequence becomes U+FFFD (and is re-encoded as such);
//     surrogates and overlong forms are accepted as code points; a code point
//     above U+10FFFF makes tokenization fail.
//   - The qwen2 split pattern is, in order of preference at each position:
//       1. an apostrophe contraction: 's 't 're 've 'm 'll 'd (any letter case)
//       2. one optional character that is not CR, LF, a letter or a number,
//          followed by one or more letters
//       3. a single number character (digits are never grouped)
//       4. an optional space, one or more characters that are neither
//          whitespace nor letters nor numbers, then any CR/LF characters
//       5. whitespace up to and including the last CR/LF of the whitespace run
//       6. a whitespace run minus its last character when a non-space follows
//          (so the last space can lead the next word), or the whole run at the
//          end of the text
//       7. a whitespace run
//     The first alternative that matches wins (not the longest).
//   - Letters and numbers are the Unicode general categories L and N;
//     whitespace is the Unicode White_Space property (ASCII: space, \t \n \v \f \r).
//   - The split runs separately on each piece of text between special tokens,
//     so no word spans a special token and the text end counts as "end".

// errCodePointRange is returned for text that llama.cpp refuses to tokenize.
var errCodePointRange = errors.New("text contains a byte sequence that decodes to a code point above U+10FFFF, which llama.cpp refuses to tokenize")

// charClass is a code point's role in the split pattern.
type charClass uint8

const (
	classOther   charClass = iota // punctuation, symbols, controls, marks, anything else
	classLetter                   // Unicode L*
	classNumber                   // Unicode N*
	classSpace                    // White_Space other than CR/LF
	classNewline                  // CR or LF (also whitespace)
)

var asciiClass = func() (t [128]charClass) {
	for c := 0; c < 128; c++ {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			t[c] = classLetter
		case c >= '0' && c <= '9':
			t[c] = classNumber
		case c == '\r' || c == '\n':
			t[c] = classNewline
		case c == ' ' || c == '\t' || c == '\v' || c == '\f':
			t[c] = classSpace
		default:
			t[c] = classOther
		}
	}
	return t
}()

func classify(cp rune) charClass {
	if cp < 128 {
		return asciiClass[cp]
	}
	switch {
	case unicode.Is(unicode.White_Space, cp):
		return classSpace
	case unicode.IsLetter(cp):
		return classLetter
	case unicode.IsNumber(cp):
		return classNumber
	}
	return classOther
}

// decodeLenient turns text into code points the way llama.cpp does: well-formed
// lead bytes take their continuation bytes without range checks; any byte that
// cannot start a sequence becomes U+FFFD.
func decodeLenient(s string) ([]rune, error) {
	out := make([]rune, 0, len(s))
	for i := 0; i < len(s); {
		b := s[i]
		cont := func(k int) bool { return i+k < len(s) && s[i+k]&0xC0 == 0x80 }
		switch {
		case b < 0x80:
			out = append(out, rune(b))
			i++
		case b&0x40 == 0: // a continuation byte where a sequence should start
			out = append(out, unicode.ReplacementChar)
			i++
		case b&0x20 == 0 && cont(1):
			out = append(out, rune(b&0x1F)<<6|rune(s[i+1]&0x3F))
			i += 2
		case b&0x20 != 0 && b&0x10 == 0 && cont(1) && cont(2):
			out = append(out, rune(b&0x0F)<<12|rune(s[i+1]&0x3F)<<6|rune(s[i+2]&0x3F))
			i += 3
		case b&0x30 == 0x30 && b&0x08 == 0 && cont(1) && cont(2) && cont(3):
			cp := rune(b&0x07)<<18 | rune(s[i+1]&0x3F)<<12 | rune(s[i+2]&0x3F)<<6 | rune(s[i+3]&0x3F)
			if cp > 0x10FFFF {
				return nil, errCodePointRange
			}
			out = append(out, cp)
			i += 4
		default:
			out = append(out, unicode.ReplacementChar)
			i++
		}
	}
	return out, nil
}

// appendUTF8 encodes cp like llama.cpp (surrogates included, no validity checks).
func appendUTF8(dst []byte, cp rune) []byte {
	switch {
	case cp < 0x80:
		return append(dst, byte(cp))
	case cp < 0x800:
		return append(dst, 0xC0|byte(cp>>6), 0x80|byte(cp&0x3F))
	case cp < 0x10000:
		return append(dst, 0xE0|byte(cp>>12), 0x80|byte(cp>>6&0x3F), 0x80|byte(cp&0x3F))
	default:
		return append(dst, 0xF0|byte(cp>>18&0x07), 0x80|byte(cp>>12&0x3F), 0x80|byte(cp>>6&0x3F), 0x80|byte(cp&0x3F))
	}
}

// splitWords cuts one piece of text (no special tokens inside) into words and
// calls emit with each word's bytes (re-encoded from the decoded code points).
func splitWords(text string, emit func(word []byte)) error {
	cps, err := decodeLenient(text)
	if err != nil {
		return err
	}
	classes := make([]charClass, len(cps))
	for i, cp := range cps {
		classes[i] = classify(cp)
	}
	var buf []byte
	for i := 0; i < len(cps); {
		end := wordEnd(cps, classes, i)
		buf = buf[:0]
		for _, cp := range cps[i:end] {
			buf = appendUTF8(buf, cp)
		}
		emit(buf)
		i = end
	}
	return nil
}

func isSpaceClass(c charClass) bool { return c == classSpace || c == classNewline }

// wordEnd returns the end of the word that starts at i (always > i).
func wordEnd(cps []rune, classes []charClass, i int) int {
	n := len(cps)
	// 1. contractions
	if cps[i] == '\'' && i+1 < n {
		switch lower(cps[i+1]) {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < n && lower(cps[i+2]) == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < n && lower(cps[i+2]) == 'l' {
				return i + 3
			}
		}
	}
	c := classes[i]
	// 2. [^\r\n\p{L}\p{N}]?\p{L}+
	start := -1
	switch {
	case c == classLetter:
		start = i
	case c != classNewline && c != classNumber && i+1 < n && classes[i+1] == classLetter:
		start = i + 1
	}
	if start >= 0 {
		j := start
		for j < n && classes[j] == classLetter {
			j++
		}
		return j
	}
	// 3. \p{N}
	if c == classNumber {
		return i + 1
	}
	// 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
	j := i
	if cps[i] == ' ' && i+1 < n && classes[i+1] == classOther {
		j = i + 1
	}
	if classes[j] == classOther {
		for j < n && classes[j] == classOther {
			j++
		}
		for j < n && classes[j] == classNewline {
			j++
		}
		return j
	}
	// Only whitespace is left here: find the run.
	runEnd := i
	lastNewline := -1
	for runEnd < n && isSpaceClass(classes[runEnd]) {
		if classes[runEnd] == classNewline {
			lastNewline = runEnd
		}
		runEnd++
	}
	// 5. \s*[\r\n]+
	if lastNewline >= 0 {
		return lastNewline + 1
	}
	// 6. \s+(?!\S)
	if runEnd == n || runEnd-1 > i {
		if runEnd == n {
			return runEnd
		}
		return runEnd - 1
	}
	// 7. \s+
	return runEnd
}

func lower(cp rune) rune {
	if cp >= 'A' && cp <= 'Z' {
		return cp + 'a' - 'A'
	}
	return cp
}
