package sandbox

import (
	"encoding/binary"
	"fmt"
	"runtime"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
)

// deniedSyscalls fail with EPERM in the worker and, inherited, in every child.
// Neither needs any of them: a child computes in memory, imports from
// read-only files and writes one pipe; the worker only forks, waits and kills.
// Sockets are also useless in the empty network namespace; the rest shrink
// the kernel attack surface. Plain fork stays allowed (the worker forks);
// children cannot use it (RLIMIT_NPROC=1 for their uid, cgroup pids limit).
var deniedSyscalls = []string{
	"socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
	"execve", "execveat", "vfork", "clone3",
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	"mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
	"move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
	"keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"kexec_load", "kexec_file_load", "reboot", "init_module", "finit_module", "delete_module",
	"swapon", "swapoff", "acct", "syslog", "quotactl", "personality",
	"open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "fanotify_init",
	"capset", "landlock_create_ruleset",
}

// cloneDenyFlags: clone with any of these (threads, shared memory, new
// namespaces) is refused; only a plain fork passes.
const cloneDenyFlags = 0x00010000 | 0x00000100 | // CLONE_THREAD, CLONE_VM
	0x00020000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x04000000 | 0x08000000 | 0x02000000 // NEWNS, NEWUSER, NEWPID, NEWNET, NEWUTS, NEWIPC, NEWCGROUP

// seccompFilter assembles the child filter as raw classic-BPF instructions
// (8 bytes each, host order) for prctl(PR_SET_SECCOMP). Syscalls from another
// architecture's ABI (e.g. int 0x80 on x86-64) kill the process.
func seccompFilter() ([]byte, error) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		return nil, fmt.Errorf("seccomp filter not built for %s", runtime.GOARCH)
	}
	var names []string
	for _, n := range deniedSyscalls {
		if hasSyscall(n) {
			names = append(names, n)
		}
	}
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{{
			Names: names,
			NamesWithCondtions: []seccomp.NameWithConditions{{
				Name:       "clone",
				Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsSet, Value: cloneDenyFlags}},
			}},
			Action: seccomp.ActionErrno | 1, // EPERM
		}},
	}
	insts, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	// The library falls through to the default action (allow) for a foreign
	// architecture; put a strict arch check in front of it.
	archID := insts[1].(bpf.JumpIf).Val
	prog := append([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: archID, SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionKillProcess)},
	}, insts...)
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	out := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		out = binary.LittleEndian.AppendUint16(out, r.Op)
		out = append(out, r.Jt, r.Jf)
		out = binary.LittleEndian.AppendUint32(out, r.K)
	}
	return out, nil
}

func hasSyscall(name string) bool {
	p := seccomp.Policy{DefaultAction: seccomp.ActionAllow, Syscalls: []seccomp.SyscallGroup{{Names: []string{name}, Action: seccomp.ActionErrno | 1}}}
	_, err := p.Assemble()
	return err == nil
}
