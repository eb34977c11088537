package sandbox

import (
	"context"
	"os"
	"testing"
)

// TestCPUProbeValidate: like TestCPUProbe, per validation of a small DP program.
func TestCPUProbeValidate(t *testing.T) {
	if os.Getenv("AZR_CPU_PROBE") == "" {
		t.Skip("diagnostic; set AZR_CPU_PROBE=1")
	}
	p := newTestPool(t, Config{})
	ctx := context.Background()
	prog := "def f(s):\n    n = len(s)\n    dp = [[0]*(n+1) for _ in range(n+1)]\n    for i in range(n-1, -1, -1):\n        for j in range(i+1, n+1):\n            dp[i][j] = max(dp[i+1][j], dp[i][j-1], (dp[i+1][j-1] + 2) if j-i >= 2 and s[i] == s[j-1] else 1)\n    return dp[0][n]"
	p.Validate(ctx, prog, []string{"'abacabadabacaba'"})
	probeCPU(t, p, "validations", 1000, func() { p.Validate(ctx, prog, []string{"'abacabadabacaba'"}) })
}
