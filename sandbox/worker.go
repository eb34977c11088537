package sandbox

import (
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// workerScript is the Python fork-server; see the long comment at its top for
// the protocol and the design of the result channel.
//
//go:embed worker.py
var workerScript string

// wireReq is one request to a worker.
type wireReq struct {
	ID        uint64      `json:"id"`
	Op        string      `json:"op"`
	Program   string      `json:"program,omitempty"`
	Imports   string      `json:"imports,omitempty"`
	Input     string      `json:"input"` // always sent: "" means f()
	TimeoutMS int64       `json:"timeout_ms"`
	Cap       int         `json:"cap,omitempty"`
	ReadCap   int         `json:"read_cap"`
	Salt      int         `json:"salt,omitempty"`
	Calls     int         `json:"calls,omitempty"`
	Policy    bool        `json:"policy,omitempty"`
	Banned    []string    `json:"banned,omitempty"`
	Pairs     [][2]string `json:"pairs,omitempty"`
}

// wireRep is a worker's reply. Status values other than the Status constants
// ("worker_error") mean the worker itself failed.
type wireRep struct {
	ID       uint64    `json:"id"`
	Status   string    `json:"status"`
	Output   string    `json:"output"`
	Error    string    `json:"error"`
	NS       int64     `json:"ns"`
	Analysis *analysis `json:"analysis"`
	Compare  []bool    `json:"compare"`
}

type analysis struct {
	OK        bool     `json:"ok"`
	Error     string   `json:"error"`
	Imports   []string `json:"imports"`
	Violation *string  `json:"violation"`
}

type readyMsg struct {
	Ready  bool    `json:"ready"`
	Error  string  `json:"error"`
	Layers []Layer `json:"layers"`
	Pid    int     `json:"pid"`
	UID    int     `json:"uid"`
	Python string  `json:"python"`
}

// workerCfg is the first message to a worker.
type workerCfg struct {
	Tmp        string   `json:"tmp"`
	Tmpfs      bool     `json:"tmpfs"`
	TmpfsBytes int64    `json:"tmpfs_bytes"`
	Landlock   bool     `json:"landlock"`
	ReadPaths  []string `json:"read_paths"`
	PrefixFD   int      `json:"prefix_fd"`
	Seccomp    []byte   `json:"seccomp,omitempty"` // base64 in JSON
	Rlimits    bool     `json:"rlimits"`
	MemBytes   int64    `json:"mem_bytes"`
	CPUSeconds int      `json:"cpu_s"`
	FsizeBytes int64    `json:"fsize_bytes"`
	Nofile     int      `json:"nofile"`
	DropUID    bool     `json:"drop_uid"`
	ChildUID   int      `json:"child_uid"`
	ChildGID   int      `json:"child_gid"`
	Banned     []string `json:"banned"`
	Preload    []string `json:"preload"`
}

// worker is one fork-server process and the Go end of its pipes.
type worker struct {
	idx     int
	cmd     *exec.Cmd
	in      *os.File // requests
	replies chan wireRep
	dead    chan struct{} // closed when the reply stream ends
	layers  []Layer
	waitErr error
	waited  chan struct{}
}

var errWorkerDied = errors.New("sandbox worker died")

const childUIDInNS = 1000

const oPath = 0x200000 // O_PATH on Linux (all architectures Go supports)

// launcher holds what every worker start needs.
type launcher struct {
	cfg     Config
	log     *zap.Logger
	interp  interpreter
	base    string // private directory of this pool
	seccomp []byte
	hostUID uint32 // base of this pool's host uid range (2 per worker)
	userns  bool
	// breakUserns makes every start in new namespaces fail, as on a machine
	// that forbids unprivileged user namespaces (test binaries only).
	breakUserns bool
	cg          *cgroups
	readPaths   []string
}

func (l *launcher) workerUIDs(i int) (workerHost, childHost int) {
	return int(l.hostUID) + 2*i, int(l.hostUID) + 2*i + 1
}

func (l *launcher) start(i int) (*worker, error) {
	if l.userns && l.breakUserns {
		return nil, fmt.Errorf("start worker: fork/exec: operation not permitted (user namespaces refused, simulated by %s)", testBreakLayersEnv)
	}
	dir := filepath.Join(l.base, fmt.Sprintf("w%d", i))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	wHost, cHost := l.workerUIDs(i)
	childUID, childGID := childUIDInNS, childUIDInNS
	switch {
	case !l.userns:
		childUID, childGID = cHost, cHost
	case os.Geteuid() != 0:
		// An unprivileged user can map only itself, as ns uid 0: children
		// keep that uid, and the tmpfs must belong to it (a tmpfs owned by
		// an unmapped uid cannot be mounted: EINVAL).
		childUID, childGID = 0, 0
	}
	if os.Geteuid() == 0 {
		// The task directory belongs to the child's uid (a plain directory if
		// the private tmpfs cannot be mounted).
		if err := os.Chown(dir, cHost, cHost); err != nil {
			return nil, err
		}
	}
	// The interpreter is reached through an O_PATH fd opened here, so it works
	// even where its install directory (e.g. /root/.pyenv) is not searchable
	// by the unprivileged uid the worker runs as.
	pfd, err := syscall.Open(l.interp.Prefix, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open interpreter prefix: %w", err)
	}
	prefix := os.NewFile(uintptr(pfd), l.interp.Prefix)
	defer prefix.Close()
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		repR.Close()
		repW.Close()
		return nil, err
	}
	args := append(l.interp.flags(), "-c", workerScript)
	cmd := exec.Command("/proc/self/fd/3/"+l.interp.Rel, args...)
	cmd.Args[0] = "azr-sandbox-worker"
	cmd.Env = []string{"PYTHONHASHSEED=0", "PYTHONHOME=/proc/self/fd/3"}
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = reqR, repW, errW
	cmd.ExtraFiles = []*os.File{prefix}
	attr := &syscall.SysProcAttr{Setsid: true}
	if l.userns {
		attr.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
		if os.Geteuid() == 0 {
			// ns uid 0 (the worker) and ns uid 1000 (its children) map to two
			// otherwise unused, unprivileged host uids: never host root.
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: wHost, Size: 1}, {ContainerID: childUIDInNS, HostID: cHost, Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: wHost, Size: 1}, {ContainerID: childUIDInNS, HostID: cHost, Size: 1}}
			attr.GidMappingsEnableSetgroups = true
		} else {
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		}
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	// Without namespaces (degraded mode) a root worker keeps its uid so that it
	// can still drop each child to the unprivileged host uid cHost.
	cmd.SysProcAttr = attr
	startErr := cmd.Start()
	reqR.Close()
	repW.Close()
	errW.Close()
	if startErr != nil {
		reqW.Close()
		repR.Close()
		errR.Close()
		return nil, fmt.Errorf("start worker: %w", startErr)
	}
	w := &worker{idx: i, cmd: cmd, in: reqW, replies: make(chan wireRep, 1), dead: make(chan struct{}), waited: make(chan struct{})}
	go func() { w.waitErr = cmd.Wait(); close(w.waited) }()
	go l.logStderr(i, errR)
	if l.cg != nil {
		if err := l.cg.add(i, cmd.Process.Pid); err != nil {
			l.log.Warn("sandbox: cannot move worker into its cgroup", zap.Int("worker", i), zap.Error(err))
		}
	}
	cpu := int((l.cfg.Timeout+time.Second-1)/time.Second) + 1
	wc := workerCfg{
		Tmp: dir, Tmpfs: l.userns && !l.cfg.disabled("tmpfs"), TmpfsBytes: tmpfsBytes,
		Landlock: !l.cfg.disabled("landlock"), ReadPaths: l.readPaths, PrefixFD: 3,
		Seccomp: l.seccomp, Rlimits: !l.cfg.disabled("rlimits"), MemBytes: max(l.cfg.MemoryLimitBytes, 0),
		CPUSeconds: cpu, FsizeBytes: fileSizeLimit, Nofile: openFilesLimit,
		DropUID:  (l.userns && os.Geteuid() == 0 || !l.userns && os.Geteuid() == 0) && !l.cfg.disabled("uid"),
		ChildUID: childUID, ChildGID: childGID, Banned: l.cfg.BannedModules, Preload: preload,
	}
	if err := writeFrame(reqW, wc); err != nil {
		w.kill()
		return nil, fmt.Errorf("configure worker: %w", err)
	}
	type first struct {
		msg readyMsg
		err error
	}
	ch := make(chan first, 1)
	go func() {
		var m readyMsg
		err := readFrame(repR, &m)
		ch <- first{m, err}
		if err != nil {
			close(w.dead)
			return
		}
		w.readLoop(repR)
	}()
	select {
	case f := <-ch:
		if f.err != nil {
			w.kill()
			return nil, fmt.Errorf("worker did not start: %w", f.err)
		}
		if !f.msg.Ready {
			w.kill()
			return nil, fmt.Errorf("worker set-up failed: %s", f.msg.Error)
		}
		w.layers = f.msg.Layers
	case <-time.After(30 * time.Second):
		w.kill()
		return nil, errors.New("worker did not answer within 30s of starting")
	}
	return w, nil
}

func (w *worker) readLoop(r *os.File) {
	defer close(w.dead)
	defer r.Close()
	for {
		var rep wireRep
		if err := readFrame(r, &rep); err != nil {
			return
		}
		w.replies <- rep
	}
}

func (l *launcher) logStderr(i int, r *os.File) {
	defer r.Close()
	buf := make([]byte, 4096)
	var line strings.Builder
	for {
		n, err := r.Read(buf)
		for _, b := range buf[:n] {
			if b == '\n' || line.Len() > 2000 {
				l.log.Warn("sandbox worker stderr", zap.Int("worker", i), zap.String("line", line.String()))
				line.Reset()
				continue
			}
			line.WriteByte(b)
		}
		if err != nil {
			return
		}
	}
}

// call sends one request and waits for its reply. The watchdog: a worker that
// has not answered `patience` after the request is killed (with everything in
// its pid namespace) and errWorkerDied is returned; the caller replaces it.
func (w *worker) call(req wireReq, patience time.Duration, cancel, closed <-chan struct{}) (wireRep, error) {
	_ = w.in.SetWriteDeadline(time.Now().Add(patience))
	if err := writeFrame(w.in, req); err != nil {
		w.kill()
		return wireRep{}, errWorkerDied
	}
	timer := time.NewTimer(patience)
	defer timer.Stop()
	for {
		select {
		case rep := <-w.replies:
			if rep.ID != req.ID {
				continue // a late reply to an abandoned request
			}
			return rep, nil
		case <-w.dead:
			w.kill()
			return wireRep{}, errWorkerDied
		case <-timer.C:
			w.kill()
			return wireRep{}, errWorkerDied
		case <-cancel:
			w.kill()
			return wireRep{}, errWorkerDied
		case <-closed:
			w.kill()
			return wireRep{}, errWorkerDied
		}
	}
}

func (w *worker) alive() bool {
	select {
	case <-w.dead:
		return false
	case <-w.waited:
		return false
	default:
		return true
	}
}

// kill ends the worker; as init of its pid namespace, its death takes every
// child with it.
func (w *worker) kill() {
	if w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
	}
	w.in.Close()
	select {
	case <-w.waited:
	case <-time.After(5 * time.Second):
	}
}

// stop asks the worker to exit (EOF on its stdin), then kills it.
func (w *worker) stop() {
	w.in.Close()
	select {
	case <-w.waited:
		return
	case <-time.After(300 * time.Millisecond):
	}
	w.kill()
}

func writeFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err = w.Write(buf)
	return err
}

func readFrame(r io.Reader, v any) error {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n > 64<<20 {
		return fmt.Errorf("frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}
