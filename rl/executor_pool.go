package rl

import "github.com/azr-native/azr-native/sandbox"

// The real executor.
var _ Executor = (*sandbox.Pool)(nil)
