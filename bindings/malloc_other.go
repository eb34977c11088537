//go:build !linux

package bindings

// MallocArenas is 0: the allocator's default (see malloc_linux.go).
var MallocArenas = 0

// ReleaseFreeMemory is a no-op outside Linux.
func ReleaseFreeMemory() {}
