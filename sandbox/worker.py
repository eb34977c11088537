# azr-native sandbox worker: a fork-server for untrusted AZR programs.
#
# This file is embedded in the Go binary (sandbox/worker.py, go:embed) and run
# with `python -s -S -P -B -X utf8 -c <this file>` inside fresh user, pid, net,
# mount, ipc and uts namespaces. It is TRUSTED code. Everything the model wrote
# runs only in a child forked per execution, after the child has dropped every
# privilege it will ever have (see isolate()).
#
# Protocol with Go (stdin/stdout of this process, which no child can touch:
# children replace fds 0-2 with /dev/null and close every other inherited fd):
# each message is a 4-byte big-endian length followed by UTF-8 JSON.
#   Go -> worker: first a config object, then requests {"id", "op", ...}
#   worker -> Go: first {"ready": true, "layers": [...]}, then one reply per
#                 request {"id", "status", "output", "error", "ns", ...}
#
# Result channel. A child reports on a pipe created for that single execution;
# the worker reads it only while that child lives and accepts it only if the
# child then exits with status 0 before its deadline. The program runs in the
# same process as the child harness, so it CAN write that pipe: nothing inside
# one process can be hidden from code running in it (frames, gc, /proc). The
# design therefore never trusts the child for anything beyond "the program's
# claimed output", which the program could produce anyway by returning a value
# with a crafted __repr__:
#   * statuses the program must not choose (timeout, killed, memory kills, size
#     overflow) are decided here, from outside, by the deadline, the wait status
#     and a byte cap on the pipe;
#   * the pipe is per execution, so a program cannot answer for another task;
#   * every verdict (determinism, equality of answers, validity) is computed
#     elsewhere: by Go comparing two independent children, or by a separate
#     child that evaluates only the two literal strings with a whitelist
#     evaluator (no program code loaded, no way to define __eq__);
#   * the analysis frame (syntax, imports, policy) is written to the pipe
#     before any program code is executed, so it cannot be forged (pipes are
#     FIFO; see op_analyze which never executes the program at all).
import os, sys, struct, json, select, signal, resource, ctypes, ast, builtins
import importlib, traceback, linecache, gc, errno
import time as _time

_monotonic_ns = _time.monotonic_ns

# ---------------------------------------------------------------- messaging


def _read_exact(fd, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_msg(fd=0):
    head = _read_exact(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    body = _read_exact(fd, n)
    if body is None:
        return None
    return json.loads(body)


def write_msg(obj, fd=1):
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
    data = struct.pack(">I", len(body)) + body
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ---------------------------------------------------------------- libc, landlock, seccomp

LIBC = ctypes.CDLL(None, use_errno=True)
_syscall = LIBC.syscall
_syscall.restype = ctypes.c_long
_prctl = LIBC.prctl
_prctl.restype = ctypes.c_int
_mount = LIBC.mount
_mount.restype = ctypes.c_int
_mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18

SYS_landlock_create_ruleset = 444
SYS_landlock_add_rule = 445
SYS_landlock_restrict_self = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
LL_EXECUTE, LL_WRITE_FILE, LL_READ_FILE, LL_READ_DIR = 1, 2, 4, 8


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _errstr():
    e = ctypes.get_errno()
    return "%s (errno %d)" % (os.strerror(e), e)


def landlock_abi():
    v = _syscall(SYS_landlock_create_ruleset, None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return int(v) if v > 0 else 0


def landlock_ruleset(abi, read_fds, write_fds):
    """Builds a ruleset fd: read (+execute) beneath read_fds, everything beneath
    write_fds, nothing else; no TCP; no signals or abstract sockets outside."""
    fs_all = (1 << 13) - 1
    if abi >= 2:
        fs_all |= 1 << 13  # REFER
    if abi >= 3:
        fs_all |= 1 << 14  # TRUNCATE
    if abi >= 5:
        fs_all |= 1 << 15  # IOCTL_DEV
    attr = _RulesetAttr(fs_all, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
    rfd = _syscall(SYS_landlock_create_ruleset, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if rfd < 0:
        raise OSError("landlock_create_ruleset: " + _errstr())
    for fd in read_fds:
        rule = _PathBeneath(LL_EXECUTE | LL_READ_FILE | LL_READ_DIR, fd)
        if _syscall(SYS_landlock_add_rule, ctypes.c_int(rfd), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
            raise OSError("landlock_add_rule(read): " + _errstr())
    for fd in write_fds:
        rule = _PathBeneath(fs_all, fd)
        if _syscall(SYS_landlock_add_rule, ctypes.c_int(rfd), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
            raise OSError("landlock_add_rule(write): " + _errstr())
    return int(rfd)


def seccomp_prog(raw):
    n = len(raw) // 8
    arr = (_SockFilter * n)()
    for i in range(n):
        code, jt, jf, k = struct.unpack_from("<HBBI", raw, i * 8)
        arr[i] = _SockFilter(code, jt, jf, k)
    prog = _SockFprog(n, ctypes.cast(arr, ctypes.POINTER(_SockFilter)))
    return prog, arr


# ---------------------------------------------------------------- worker state

CFG = {}
STATE = {
    "devnull": -1,
    "ruleset": -1,      # landlock ruleset fd (closed once applied)
    "tmp": None,        # the task directory (private tmpfs when available)
    "keep_fds": set(),
}
LAYERS = []


def layer(name, ok, detail):
    LAYERS.append({"name": name, "enabled": bool(ok), "detail": detail})


def setup_worker(cfg):
    CFG.update(cfg)
    try:
        _prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except Exception:
        pass
    STATE["devnull"] = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    tmp = cfg["tmp"]
    STATE["tmp"] = tmp
    # Private, size-capped tmpfs for the task directory (possible because this
    # process is root of its own user namespace, which owns its mount namespace).
    if cfg.get("tmpfs", True):
        _mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
        opts = ("size=%d,nr_inodes=4096,mode=0700,uid=%d,gid=%d" % (cfg["tmpfs_bytes"], cfg["child_uid"], cfg["child_gid"])).encode()
        if _mount(b"tmpfs", tmp.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == 0:
            layer("tmpfs", True, "private %d MiB tmpfs task directory (invisible outside this worker)" % (cfg["tmpfs_bytes"] >> 20))
        else:
            layer("tmpfs", False, "mount tmpfs failed: %s; task directory is a plain directory" % _errstr())
    else:
        layer("tmpfs", False, "disabled or no mount namespace; task directory is a plain directory")
    # Landlock ruleset, built once, applied by every child (one syscall).
    abi = landlock_abi() if cfg.get("landlock", True) else 0
    if abi > 0:
        fds = []
        try:
            read_fds = [cfg["prefix_fd"]]
            for p in cfg.get("read_paths", []):
                try:
                    fd = os.open(p, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                fds.append(fd)
                read_fds.append(fd)
            wfd = os.open(tmp, os.O_PATH | os.O_CLOEXEC)
            fds.append(wfd)
            STATE["ruleset"] = landlock_ruleset(abi, read_fds, [wfd])
            layer("landlock", True, "ABI %d: read-only %s and the interpreter; read-write only the task directory; no TCP%s" % (
                abi, ",".join(cfg.get("read_paths", [])), "; signals and abstract sockets scoped" if abi >= 6 else ""))
        except OSError as e:
            layer("landlock", False, str(e))
        for fd in fds:
            os.close(fd)
    else:
        layer("landlock", False, "not supported by this kernel" if cfg.get("landlock", True) else "disabled")
    STATE["keep_fds"] = {cfg["prefix_fd"]}
    # Warm the modules programs commonly use so children do not read files.
    for m in cfg.get("preload", []):
        try:
            importlib.import_module(m)
        except Exception:
            pass
    import shutil, base64  # used later by the worker itself
    # Layers that are the same for every child are applied once, here, to the
    # worker itself, and inherited by each fork: no_new_privs, the Landlock
    # domain and the seccomp filter. (The worker needs nothing they deny: it
    # only forks, waits, kills, reads its pipes and cleans the task directory.
    # The filter still allows fork; a child cannot use it: RLIMIT_NPROC=1 for
    # its uid and the cgroup pids limit.) Per child: fds, rlimits, uid.
    _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if STATE["ruleset"] >= 0:
        if _syscall(SYS_landlock_restrict_self, ctypes.c_int(STATE["ruleset"]), ctypes.c_uint32(0)) < 0:
            LAYERS[:] = [l for l in LAYERS if l["name"] != "landlock"]
            layer("landlock", False, "landlock_restrict_self: " + _errstr())
        os.close(STATE["ruleset"])
        STATE["ruleset"] = -1
    if cfg.get("seccomp"):
        prog = seccomp_prog(base64.b64decode(cfg["seccomp"]))
        if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog[0]), 0, 0) == 0:
            layer("seccomp", True, "%d-instruction filter: no sockets, exec, threads, clone into namespaces, ptrace, mount, keys, bpf, io_uring" % len(prog[1]))
        else:
            layer("seccomp", False, "prctl(PR_SET_SECCOMP): " + _errstr())
    else:
        layer("seccomp", False, "no filter supplied")
    os.environ.clear()
    gc.collect()
    gc.freeze()


# ---------------------------------------------------------------- the child

def isolate(wfd):
    """Runs in the freshly forked child, before any program text is touched:
    fds, task directory, rlimits, then the unprivileged uid (no capabilities).
    Landlock, seccomp, no_new_privs and the empty environment are inherited
    from the worker (see setup_worker)."""
    dn = STATE["devnull"]
    os.dup2(dn, 0)
    os.dup2(dn, 1)
    os.dup2(dn, 2)
    keep = sorted(STATE["keep_fds"] | {wfd})
    lo = 3
    for fd in keep:
        if fd > lo:
            os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 65536)
    os.chdir(STATE["tmp"])
    c = CFG
    lim = resource.setrlimit
    lim(resource.RLIMIT_CORE, (0, 0))
    if c.get("rlimits", True):
        if c["mem_bytes"] > 0:
            lim(resource.RLIMIT_AS, (c["mem_bytes"], c["mem_bytes"]))
        lim(resource.RLIMIT_CPU, (c["cpu_s"], c["cpu_s"] + 1))
        lim(resource.RLIMIT_FSIZE, (c["fsize_bytes"], c["fsize_bytes"]))
        lim(resource.RLIMIT_NOFILE, (c["nofile"], c["nofile"]))
        lim(resource.RLIMIT_NPROC, (1, 1))
        lim(resource.RLIMIT_MEMLOCK, (0, 0))
        lim(resource.RLIMIT_MSGQUEUE, (0, 0))
    if c.get("drop_uid", True):
        os.setgroups([])
        os.setresgid(c["child_gid"], c["child_gid"], c["child_gid"])
        os.setresuid(c["child_uid"], c["child_uid"], c["child_uid"])


def _send(wfd, obj):
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
    view = memoryview(data)
    while view:
        n = os.write(wfd, view)
        view = view[n:]


def _send_with(dumps, write):
    def send(wfd, obj):
        view = memoryview(dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        while view:
            view = view[write(wfd, view):]
    return send


def _last_line(e):
    try:
        s = traceback.format_exception_only(type(e), e)[-1].strip()
    except BaseException:
        try:
            s = type(e).__name__
        except BaseException:
            s = "Exception"
    if not isinstance(s, str):
        s = "Exception"
    return s[:1000]


class _Banned(ImportError):
    pass


def install_policy(g, banned):
    """Run-time half of the banned-module policy: imports made by the program's
    own code (import statements, __import__, importlib.import_module, exec'd
    strings) are checked by name, including dotted names (os.path) and
    from-imports (from os import path). Imports made inside the standard
    library on the program's behalf are allowed. Banned modules already loaded
    are dropped from sys.modules so importlib cannot hand them out either."""
    banned = frozenset(banned)
    single = frozenset(b for b in banned if "." not in b)
    real_import = builtins.__import__
    real_import_module = importlib.import_module
    getframe = sys._getframe

    def hit(name, fromlist=()):
        if not isinstance(name, str):
            return None
        parts = name.split(".")
        for i in range(len(parts)):
            if parts[i] in single or ".".join(parts[: i + 1]) in banned:
                return name
        for f in fromlist or ():
            if isinstance(f, str) and (name + "." + f) in banned:
                return name + "." + f
        return None

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and getframe(1).f_globals is g:
            h = hit(name, fromlist)
            if h:
                raise _Banned("module %r is banned in this sandbox" % h)
        return real_import(name, globals, locals, fromlist, level)

    def guarded_import_module(name, package=None):
        fr = getframe(1)
        if fr.f_globals is g:
            h = hit(name)
            if h:
                raise _Banned("module %r is banned in this sandbox" % h)
        return real_import_module(name, package)

    builtins.__import__ = guarded_import
    importlib.import_module = guarded_import_module
    for m in list(sys.modules):
        # Only whole banned modules; dotted entries such as os.path name an
        # attribute path, and the stdlib itself needs sys.modules['os.path'].
        if any(part in single for part in m.split(".")):
            del sys.modules[m]


def op_run(req, wfd):
    """f(input) -> repr; `calls` > 1 calls f again in the same child and reports
    the last value (so mutable defaults and other hidden state show up)."""
    # Shift the heap by a per-execution amount, first thing, so that
    # id()/address-dependent results differ between the two determinism runs
    # even though both children were forked from the same worker state (every
    # later allocation, and every block freed and reused, lands elsewhere).
    salt = int(req.get("salt", 0))
    pad = [[bytes(n) for n in range(1, 520, 8)] + [[], {}, set(), (k,), (k, k), k + 0.5, object()] for k in range(salt * 2)]
    # The harness keeps its own references: a program that patches
    # builtins.repr or json.dumps changes only its own (claimed) output.
    send = _send_with(json.dumps, os.write)
    last_line = _last_line
    _repr, _type, _str, _len = repr, type, str, len
    cap = int(req.get("cap", 400))
    calls = int(req.get("calls", 1))
    program = req["program"]
    imports = req.get("imports") or ""
    src = (imports + "\n" + program) if imports else program
    g = {"__name__": "__main__", "__builtins__": builtins}
    try:
        code = compile(src, "<program>", "exec")
        # An empty input is a call with no arguments: f() (zero-argument
        # programs are valid AZR tasks).
        call = compile("f(" + req.get("input", "") + ")", "<input>", "eval")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as e:
        send(wfd, {"s": "rejected", "e": "syntax: " + last_line(e)})
        return
    if "random" in sys.modules:  # never share a PRNG state between children
        try:
            sys.modules["random"].seed()
        except Exception:
            pass
    if req.get("policy"):
        install_policy(g, CFG.get("banned", []))
    try:
        exec(code, g)
        v = eval(call, g)
        for _ in range(calls - 1):
            v = eval(call, g)
        r = _repr(v)
        if _type(r) is not _str:
            raise TypeError("__repr__ returned non-string")
        r = _str.strip(r)
        n = _len(_str.encode(r, "utf-8"))
        if n > cap:
            send(wfd, {"s": "too_large", "e": "output is %d bytes, over the %d-byte cap" % (n, cap)})
        else:
            send(wfd, {"s": "ok", "o": r})
    except MemoryError as e:
        send(wfd, {"s": "memory", "e": "MemoryError"})
    except BaseException as e:
        send(wfd, {"s": "error", "e": last_line(e)})
    del pad


# ---- static analysis (syntax, imports rebuilt from the AST, banned modules)

def _dotted(node, aliases):
    """'os.path' for Attribute(Name('os'), 'path') when os is a module alias."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        base = aliases.get(node.id)
        if base is None:
            return None
        parts.append(base)
        return ".".join(reversed(parts))
    return None


def analyze(program, banned):
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as e:
        return {"ok": False, "error": "syntax: " + _last_line(e)}
    banned = set(banned)
    single = {b for b in banned if "." not in b}

    def bad(name):
        parts = name.split(".")
        for i in range(len(parts)):
            if parts[i] in single or ".".join(parts[: i + 1]) in banned:
                return True
        return False

    imports, seen, aliases = [], set(), {}
    violation = None
    nodes = list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            line = ast.unparse(node)
            if line not in seen:
                seen.add(line)
                imports.append(line)
        if isinstance(node, ast.Import):
            for a in node.names:
                if bad(a.name) and violation is None:
                    violation = "banned module %r (%s)" % (a.name, ast.unparse(node))
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    aliases[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if bad(node.module) and violation is None:
                violation = "banned module %r (%s)" % (node.module, ast.unparse(node))
            for a in node.names:
                full = node.module + "." + a.name
                if a.name == "*" and violation is None and any(b.startswith(node.module + ".") for b in banned):
                    violation = "star import from %r would bind banned names (%s)" % (node.module, ast.unparse(node))
                if full in banned and violation is None:
                    violation = "banned name %r (%s)" % (full, ast.unparse(node))
                aliases[a.asname or a.name] = full
    if violation is None:
        for node in nodes:
            what = None
            if isinstance(node, ast.Attribute):
                d = _dotted(node, aliases)
                if d and bad(d):
                    what = "banned name %r" % d
                elif node.attr in ("__import__", "import_module", "__builtins__", "__loader__", "__spec__"):
                    what = "dynamic import (%s)" % node.attr
            elif isinstance(node, ast.Name) and node.id in ("__import__", "__builtins__", "__loader__", "importlib"):
                what = "dynamic import (%s)" % node.id
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ("__import__", "import_module", "__builtins__", "__loader__"):
                what = "dynamic import (%r)" % node.value
            if what:
                violation = what
                break
    return {"ok": True, "imports": imports, "violation": violation}


def op_analyze(req, wfd):
    _send(wfd, {"s": "ok", "a": analyze(req["program"], req.get("banned") or [])})


# ---- answer comparison: whitelist evaluation of two literals, then ==

_SAFE_NAMES = {
    "True": True, "False": False, "None": None, "Ellipsis": Ellipsis,
    "set": set, "frozenset": frozenset, "tuple": tuple, "list": list, "dict": dict,
    "int": int, "float": float, "complex": complex, "str": str, "bytes": bytes,
    "bool": bool, "range": range, "bytearray": bytearray,
}
_SAFE_NODES = (
    ast.Expression, ast.Constant, ast.Tuple, ast.List, ast.Set, ast.Dict,
    ast.UnaryOp, ast.BinOp, ast.Name, ast.Call, ast.Load, ast.keyword,
    ast.UAdd, ast.USub, ast.Not, ast.Invert, ast.Add, ast.Sub, ast.Mult, ast.Div,
    ast.FloorDiv, ast.Mod, ast.Pow, ast.Starred,
)


def safe_value(text):
    """Evaluates a literal-like expression (what repr() of plain data looks like,
    plus arithmetic and set()/frozenset()/... calls). Names are limited to a
    whitelist and there are no attributes, lambdas or comprehensions, so no
    object with a user-defined __eq__ can be built."""
    tree = ast.parse(text.strip(), mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _SAFE_NODES):
            raise ValueError("not a literal: " + type(node).__name__)
        if isinstance(node, ast.Name) and node.id not in _SAFE_NAMES:
            raise ValueError("unknown name " + node.id)
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            raise ValueError("call of a non-name")
    return eval(compile(tree, "<literal>", "eval"), {"__builtins__": {}}, dict(_SAFE_NAMES))


def op_compare(req, wfd):
    out = []
    for a, b in req["pairs"]:
        try:
            out.append(bool(safe_value(a) == safe_value(b)))
        except BaseException:
            out.append(False)
    _send(wfd, {"s": "ok", "r": out})


OPS = {"run": op_run, "analyze": op_analyze, "compare": op_compare}

# ---------------------------------------------------------------- fork + supervise


def _signame(sig):
    try:
        return signal.Signals(sig).name
    except ValueError:
        return "signal %d" % sig


def execute(req):
    fn = OPS.get(req.get("op"))
    if fn is None:
        return {"status": "error", "error": "unknown op %r" % req.get("op")}
    timeout_ns = int(req.get("timeout_ms", 500)) * 1_000_000
    limit = int(req.get("read_cap", 1 << 20))
    rfd, wfd = os.pipe()
    t0 = _monotonic_ns()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(rfd)
            isolate(wfd)
            fn(req, wfd)
        except BaseException as e:
            # Only reachable before any program text ran if isolate() failed;
            # a program that forges this merely gets itself "killed".
            code = 71
            try:
                os.write(wfd, json.dumps({"iso": repr(e)[:500]}).encode())
            except BaseException:
                pass
        os._exit(code)
    os.close(wfd)
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = -1
    deadline = t0 + timeout_ns
    buf = bytearray()
    exited = killed_for = None
    poller = select.poll()
    poller.register(rfd, select.POLLIN)
    if pidfd >= 0:
        poller.register(pidfd, select.POLLIN)
    pipe_open = True
    wstatus = None
    while True:
        remaining = deadline - _monotonic_ns()
        if remaining <= 0:
            killed_for = "timeout"
            break
        ms = (remaining + 999_999) // 1_000_000
        if pidfd < 0:
            ms = min(ms, 2)
        try:
            events = poller.poll(ms)
        except InterruptedError:
            continue
        for fd, ev in events:
            if fd == rfd:
                data = os.read(rfd, 65536)
                if data:
                    buf += data
                    if len(buf) > limit:
                        killed_for = "too_large"
                else:
                    poller.unregister(rfd)
                    pipe_open = False
            elif fd == pidfd:
                exited = True
        if killed_for:
            break
        if pidfd < 0:
            p, st = os.waitpid(pid, os.WNOHANG)
            if p == pid:
                exited, wstatus = True, st
        if exited:
            break
    if not exited:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if wstatus is None:
        _, wstatus = os.waitpid(pid, 0)
    elapsed = _monotonic_ns() - t0
    if exited and pipe_open and killed_for is None:
        # The child is gone: drain what it wrote, up to the cap.
        os.set_blocking(rfd, False)
        while True:
            try:
                data = os.read(rfd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            buf += data
            if len(buf) > limit:
                killed_for = "too_large"
                break
    os.close(rfd)
    if pidfd >= 0:
        os.close(pidfd)
    cleanup_tmp()
    rep = {"ns": elapsed}
    if killed_for == "timeout":
        rep.update(status="timeout", error="killed at the %d ms deadline" % (timeout_ns // 1_000_000))
        return rep
    if killed_for == "too_large":
        rep.update(status="too_large", error="wrote more than %d bytes of result" % limit)
        return rep
    if os.WIFSIGNALED(wstatus):
        sig = os.WTERMSIG(wstatus)
        if sig == signal.SIGXCPU:
            rep.update(status="timeout", error="CPU time limit (SIGXCPU)")
        else:
            rep.update(status="killed", error="killed by " + _signame(sig))
        return rep
    code = os.WEXITSTATUS(wstatus)
    if code == 71 and buf.startswith(b'{"iso": '):
        try:
            why = json.loads(bytes(buf))["iso"]
        except (ValueError, KeyError, TypeError):
            why = "?"
        rep.update(status="killed", error="sandbox isolation failed in the child: %s" % why)
        return rep
    if code != 0:
        rep.update(status="killed", error="exited with status %d without a result" % code)
        return rep
    try:
        frame = json.loads(bytes(buf))
        if not isinstance(frame, dict):
            raise ValueError
    except ValueError:
        rep.update(status="killed", error="exited without a well-formed result")
        return rep
    s = frame.get("s")
    if s not in ("ok", "error", "memory", "too_large", "rejected"):
        rep.update(status="killed", error="malformed result")
        return rep
    rep["status"] = s
    if isinstance(frame.get("o"), str):
        rep["output"] = frame["o"]
    if isinstance(frame.get("e"), str):
        rep["error"] = frame["e"][:1000]
    if "a" in frame:
        rep["analysis"] = frame["a"]
    if "r" in frame:
        rep["compare"] = frame["r"]
    return rep


def cleanup_tmp():
    tmp = STATE["tmp"]
    try:
        names = os.listdir(tmp)
    except OSError:
        return
    if names:
        import shutil
        for n in names:
            p = os.path.join(tmp, n)
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    os.unlink(p)
            except OSError:
                pass


def self_test():
    """Forks one child through the full isolation path and reports what holds."""
    rep = execute({"op": "run", "program": "def f(x):\n    return x", "input": "1", "timeout_ms": 5000})
    layer("self-test", rep.get("status") == "ok", "trivial program in an isolated child: %s %s" % (rep.get("status"), rep.get("error", "")))


def main():
    cfg = read_msg()
    if cfg is None:
        return
    try:
        setup_worker(cfg)
        if cfg.get("drop_uid", True):
            layer("uid", True, "children run as uid %d, no capabilities, no_new_privs" % cfg["child_uid"])
        else:
            layer("uid", False, "children keep the worker's uid (not root, or disabled)")
        if cfg.get("rlimits", True):
            layer("rlimits", True, "per child: AS %d MiB, CPU %d s, NPROC 1, FSIZE %d MiB, NOFILE %d, no core dumps" % (
                cfg["mem_bytes"] >> 20, cfg["cpu_s"], cfg["fsize_bytes"] >> 20, cfg["nofile"]))
        else:
            layer("rlimits", False, "disabled")
        self_test()
    except BaseException as e:
        write_msg({"ready": False, "error": repr(e), "layers": LAYERS})
        return
    write_msg({"ready": True, "layers": LAYERS, "pid": os.getpid(), "uid": os.getuid(),
               "python": sys.version.split()[0]})
    while True:
        req = read_msg()
        if req is None:
            return
        try:
            rep = execute(req)
        except BaseException as e:  # a worker bug, never the program's doing
            rep = {"status": "worker_error", "error": repr(e)}
        rep["id"] = req.get("id")
        write_msg(rep)


main()
