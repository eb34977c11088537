package eval

import (
	"math"
	"sort"
	"strconv"
)

// PassAtK is the unbiased estimator of the probability that at least one of
// k samples is correct, from n samples of which c are correct:
// 1 - C(n-c, k) / C(n, k) (Chen et al., 2021). It is computed as
// 1 - prod_{i=n-c+1..n} (1 - k/i), which never forms a binomial coefficient
// and so stays exact for any n. k > n has no unbiased estimate: NaN.
func PassAtK(n, c, k int) float64 {
	switch {
	case n <= 0 || k <= 0 || k > n || c < 0 || c > n:
		return math.NaN()
	case c == 0:
		return 0
	case n-c < k:
		return 1
	}
	fail := 1.0
	for i := n - c + 1; i <= n; i++ {
		fail *= 1 - float64(k)/float64(i)
	}
	return 1 - fail
}

// DefaultKs are the k of pass@k reported for n samples per item: 1, then 5,
// 10, 20, 50, 100 up to n, and n itself.
func DefaultKs(n int) []int {
	ks := []int{1}
	for _, k := range []int{5, 10, 20, 50, 100} {
		if k < n {
			ks = append(ks, k)
		}
	}
	if n > 1 {
		ks = append(ks, n)
	}
	return ks
}

// passAtKMean averages PassAtK over items with the given (n, c) counts.
func passAtKMean(counts [][2]int, k int) float64 {
	if len(counts) == 0 {
		return 0
	}
	sum := 0.0
	for _, nc := range counts {
		sum += PassAtK(nc[0], nc[1], k)
	}
	return sum / float64(len(counts))
}

// sortedKs returns the valid ks (1 <= k <= n), sorted and without repeats.
func sortedKs(ks []int, n int) []int {
	seen := map[int]bool{}
	var out []int
	for _, k := range ks {
		if k >= 1 && k <= n && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Ints(out)
	return out
}

func kKey(k int) string { return strconv.Itoa(k) }
