package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// layerFixes says, for each isolation layer, what a machine needs for the
// layer to work: the second half of the error a strict pool returns.
var layerFixes = map[string]string{
	"namespaces": "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on Debian, " +
		"user.max_user_namespaces > 0, kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 23.10+; " +
		"in a container, a seccomp/AppArmor profile that permits creating namespaces)",
	"tmpfs": "the task directory's tmpfs is mounted in the worker's own mount namespace: make the namespaces layer work",
	"landlock": "a Linux kernel >= 5.13 with Landlock built in (CONFIG_SECURITY_LANDLOCK=y) and enabled " +
		"(landlock in the lsm= boot parameter)",
	"seccomp": "a kernel with seccomp filters (CONFIG_SECCOMP_FILTER) on amd64 or arm64, and no container policy " +
		"forbidding prctl(PR_SET_SECCOMP)",
	"cgroup": "when running as root, a writable cgroup hierarchy with the pids and memory controllers " +
		"(v1 /sys/fs/cgroup/{pids,memory}, or v2 with +pids +memory in cgroup.subtree_control)",
	"uid":         "when running as root, children must be able to switch to an unprivileged uid (setresuid)",
	"rlimits":     "setrlimit must work in the children (address space, CPU, processes, file size)",
	"environment": "the worker must start with an empty environment",
	"self-test":   "an isolated child must be able to run a trivial program; see the layer details",
}

// WeakSandboxError is what a strict pool returns when a layer this machine
// should give could not be set up.
type WeakSandboxError struct {
	Missing []Layer // the layers that are off or absent, with why
}

func (e *WeakSandboxError) Error() string {
	var b strings.Builder
	names := make([]string, len(e.Missing))
	for i, l := range e.Missing {
		names[i] = l.Name
	}
	fmt.Fprintf(&b, "sandbox: refusing to run untrusted programs without the %s isolation layer", strings.Join(names, ", "))
	if len(names) > 1 {
		b.WriteString("s")
	}
	for _, l := range e.Missing {
		fmt.Fprintf(&b, "; %s is unavailable (%s); fix: %s", l.Name, l.Detail, layerFixes[l.Name])
	}
	b.WriteString("; to run anyway with the weaker sandbox, use --sandbox-isolation best-effort (sandbox_isolation: best-effort)")
	return b.String()
}

// ErrWeakSandbox matches a *WeakSandboxError with errors.Is.
var ErrWeakSandbox = errors.New("sandbox: an isolation layer is missing")

func (e *WeakSandboxError) Is(target error) bool { return target == ErrWeakSandbox }

// expectedLayers are the layers a pool started with cfg by a process with
// (root) or without root privileges must have: every layer minus those the
// configuration turns off and those an unprivileged user can never have (its
// own uid range to drop children to, cgroups it may write).
func expectedLayers(cfg Config, root bool) []string {
	all := []string{"namespaces", "tmpfs", "landlock", "seccomp", "rlimits", "environment", "self-test"}
	if root {
		all = append(all, "uid", "cgroup")
	}
	var out []string
	for _, name := range all {
		if cfg.disabled(name) || name == "tmpfs" && cfg.disabled("namespaces") {
			continue
		}
		out = append(out, name)
	}
	return out
}

// missingLayers lists the expected layers that are off or not reported.
func missingLayers(layers []Layer, expected []string) []Layer {
	var out []Layer
	for _, name := range expected {
		found, on := false, false
		var why []string
		for _, l := range layers {
			if l.Name == name {
				found = true
				on = on || l.Enabled
				if !l.Enabled {
					why = append(why, l.Detail)
				}
			}
		}
		switch {
		case !found:
			out = append(out, Layer{Name: name, Detail: "not reported by the pool"})
		case !on:
			out = append(out, Layer{Name: name, Detail: strings.Join(why, "; ")})
		}
	}
	return out
}

// testBreakLayersEnv names layers whose set-up a test binary makes fail, to
// exercise the refusal and the best-effort path on a machine where every
// layer works. It is read only inside `go test` binaries (testing.Testing),
// so no production run can be weakened through the environment.
const testBreakLayersEnv = "AZR_SANDBOX_TEST_BREAK_LAYERS"

// testBrokenLayers returns the layers to break ("namespaces", "seccomp",
// "cgroup"); nil outside test binaries.
func testBrokenLayers() map[string]bool {
	if !testing.Testing() {
		return nil
	}
	v := os.Getenv(testBreakLayersEnv)
	if v == "" {
		return nil
	}
	out := map[string]bool{}
	for _, name := range strings.Split(v, ",") {
		out[strings.TrimSpace(name)] = true
	}
	return out
}
