//go:build linux

package bindings

/*
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
static int azr_go_arena_max(int n) { return mallopt(M_ARENA_MAX, n); }
static int azr_go_malloc_trim(void) { return malloc_trim(0); }
#else
static int azr_go_arena_max(int n) { (void)n; return 0; }
static int azr_go_malloc_trim(void) { return 0; }
#endif
*/
import "C"

import "os"

// MallocArenas is the number of glibc malloc arenas the process is held to
// (0: the allocator's default, when MALLOC_ARENA_MAX was set by the user or
// the C library is not glibc).
//
// Why: cgo calls run on whichever OS thread the calling goroutine is on, and
// glibc gives each thread that allocates under contention its own arena
// (up to 8 per core). The engine's per-call buffers (a training micro-batch's
// masks and read-backs, several MiB for long prompts) were freed into ever
// more arenas, each keeping its pages: a self-play soak on a tiny model grew
// its resident set by ~14 MiB every few steps (88 MiB at step 4, 160 MiB at
// step 23) and stayed flat at ~102 MiB from step 11 on with two arenas. The
// engine's native calls are serialised, so two arenas cost no contention.
var MallocArenas = limitArenas()

func limitArenas() int {
	if os.Getenv("MALLOC_ARENA_MAX") != "" {
		return 0 // the user's choice, which glibc read at start-up
	}
	const n = 2
	if C.azr_go_arena_max(n) != 1 {
		return 0
	}
	return n
}

// ReleaseFreeMemory returns the C heap's free pages to the operating system
// (glibc malloc_trim), in every arena. A no-op elsewhere.
func ReleaseFreeMemory() { C.azr_go_malloc_trim() }
