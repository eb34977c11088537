package eval

import (
	"fmt"
	"math"
	"math/big"
	"testing"
)

// pass@k = 1 - C(n-c, k) / C(n, k), worked out by hand.
func TestPassAtKByHand(t *testing.T) {
	for _, tc := range []struct {
		n, c, k int
		want    float64
		how     string
	}{
		{1, 1, 1, 1, "one right sample"},
		{1, 0, 1, 0, "one wrong sample"},
		{5, 2, 1, 0.4, "pass@1 = c/n = 2/5"},
		{5, 2, 2, 0.7, "1 - C(3,2)/C(5,2) = 1 - 3/10"},
		{4, 1, 2, 0.5, "1 - C(3,2)/C(4,2) = 1 - 3/6"},
		{4, 2, 2, 5.0 / 6, "1 - C(2,2)/C(4,2) = 1 - 1/6"},
		{10, 3, 5, 1 - 21.0/252, "1 - C(7,5)/C(10,5) = 1 - 21/252"},
		{5, 3, 3, 1, "n-c < k: some right sample is always among k"},
		{5, 0, 3, 0, "no right sample"},
		{8, 8, 8, 1, "all right"},
		{1000, 1, 1, 0.001, "large n, pass@1 = c/n"},
		{1000, 1, 10, 0.01, "1 - C(999,10)/C(1000,10) = 10/1000"},
	} {
		if got := PassAtK(tc.n, tc.c, tc.k); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("pass@%d(n=%d, c=%d) = %v, want %v (%s)", tc.k, tc.n, tc.c, got, tc.want, tc.how)
		}
	}
	for _, bad := range [][3]int{{0, 0, 1}, {3, 1, 4}, {3, 4, 1}, {3, -1, 1}, {3, 1, 0}} {
		if got := PassAtK(bad[0], bad[1], bad[2]); !math.IsNaN(got) {
			t.Errorf("pass@%d(n=%d, c=%d) = %v, want NaN (no estimate)", bad[2], bad[0], bad[1], got)
		}
	}
}

// The product form agrees with exact rational arithmetic over a grid, and
// stays finite where the binomial coefficients overflow float64.
func TestPassAtKMatchesExactBinomials(t *testing.T) {
	exact := func(n, c, k int) float64 {
		num := new(big.Int).Binomial(int64(n-c), int64(k))
		if n-c < k {
			num.SetInt64(0)
		}
		r := new(big.Rat).SetFrac(num, new(big.Int).Binomial(int64(n), int64(k)))
		f, _ := new(big.Rat).Sub(big.NewRat(1, 1), r).Float64()
		return f
	}
	for _, n := range []int{1, 2, 7, 20, 64, 200, 1200} {
		for _, c := range []int{0, 1, n / 3, n / 2, n - 1, n} {
			for _, k := range []int{1, 2, 5, 10, 100, n} {
				if c < 0 || k > n {
					continue
				}
				got, want := PassAtK(n, c, k), exact(n, c, k)
				if math.IsNaN(got) || math.IsInf(got, 0) || math.Abs(got-want) > 1e-9 {
					t.Errorf("pass@%d(n=%d, c=%d) = %v, exact %v", k, n, c, got, want)
				}
			}
		}
	}
}

func TestDefaultKs(t *testing.T) {
	for n, want := range map[int]string{1: "[1]", 2: "[1 2]", 5: "[1 5]", 8: "[1 5 8]", 10: "[1 5 10]", 64: "[1 5 10 20 50 64]"} {
		if got := fmt.Sprint(DefaultKs(n)); got != want {
			t.Errorf("DefaultKs(%d) = %s, want %s", n, got, want)
		}
	}
}
