package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// cgroups holds one cgroup per worker under each available controller
// (v1 pids and memory hierarchies; or the v2 unified hierarchy when it
// offers those controllers). A worker and all its children share its group.
type cgroups struct {
	parents []string // one per controller (v1) or one (v2)
	files   map[string][2]string
	v2      bool
	workers int
}

const cgroupPidsMax = 16

// setupCgroups creates the groups; it returns nil and a reason when none can
// be used (no cgroupfs, not writable, no useful controller).
func setupCgroups(name string, workers int, memLimit int64) (*cgroups, string) {
	perWorkerMem := int64(0)
	if memLimit > 0 {
		perWorkerMem = 2*memLimit + 128<<20
	}
	cg := &cgroups{workers: workers}
	if data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		_ = data
		cg.v2 = true
		p := filepath.Join("/sys/fs/cgroup", name)
		if err := os.Mkdir(p, 0o755); err != nil {
			return nil, "cgroup v2: " + err.Error()
		}
		_ = os.WriteFile(filepath.Join(p, "cgroup.subtree_control"), []byte("+pids +memory"), 0)
		cg.parents = []string{p}
		for i := 0; i < workers; i++ {
			d := filepath.Join(p, fmt.Sprintf("w%d", i))
			if err := os.Mkdir(d, 0o755); err != nil {
				cg.remove()
				return nil, "cgroup v2: " + err.Error()
			}
			e1 := os.WriteFile(filepath.Join(d, "pids.max"), []byte(strconv.Itoa(cgroupPidsMax)), 0)
			if e1 != nil {
				cg.remove()
				return nil, "cgroup v2 has no pids controller here"
			}
			if perWorkerMem > 0 {
				_ = os.WriteFile(filepath.Join(d, "memory.max"), []byte(strconv.FormatInt(perWorkerMem, 10)), 0)
			}
		}
		return cg, ""
	}
	var reasons []string
	for _, ctrl := range []string{"pids", "memory"} {
		root := filepath.Join("/sys/fs/cgroup", ctrl)
		if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
			reasons = append(reasons, ctrl+": no v1 hierarchy")
			continue
		}
		p := filepath.Join(root, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			reasons = append(reasons, ctrl+": "+err.Error())
			continue
		}
		ok := true
		for i := 0; i < workers && ok; i++ {
			d := filepath.Join(p, fmt.Sprintf("w%d", i))
			if err := os.Mkdir(d, 0o755); err != nil {
				ok = false
				break
			}
			switch ctrl {
			case "pids":
				ok = os.WriteFile(filepath.Join(d, "pids.max"), []byte(strconv.Itoa(cgroupPidsMax)), 0) == nil
			case "memory":
				if perWorkerMem > 0 {
					ok = os.WriteFile(filepath.Join(d, "memory.limit_in_bytes"), []byte(strconv.FormatInt(perWorkerMem, 10)), 0) == nil
				}
			}
		}
		cg.parents = append(cg.parents, p)
		if !ok {
			reasons = append(reasons, ctrl+": cannot configure")
		}
	}
	if len(cg.parents) == 0 {
		return nil, fmt.Sprint(reasons)
	}
	if len(reasons) > 0 {
		return cg, fmt.Sprint(reasons)
	}
	return cg, ""
}

func (c *cgroups) describe() string {
	if c.v2 {
		return fmt.Sprintf("v2: pids.max=%d and memory.max per worker", cgroupPidsMax)
	}
	return fmt.Sprintf("v1 %v: pids.max=%d and memory.limit_in_bytes per worker", c.parents, cgroupPidsMax)
}

func (c *cgroups) add(i, pid int) error {
	var errs []error
	for _, p := range c.parents {
		f := filepath.Join(p, fmt.Sprintf("w%d", i), "cgroup.procs")
		if err := os.WriteFile(f, []byte(strconv.Itoa(pid)), 0); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// remove deletes the groups; they must be empty, so it retries briefly while
// killed processes finish exiting.
func (c *cgroups) remove() {
	for _, p := range c.parents {
		for i := 0; i < c.workers; i++ {
			d := filepath.Join(p, fmt.Sprintf("w%d", i))
			for try := 0; try < 50; try++ {
				if err := os.Remove(d); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		_ = os.Remove(p)
	}
}
