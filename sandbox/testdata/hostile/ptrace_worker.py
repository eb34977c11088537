# attack: ptrace the worker, or write its memory through /proc
# expect: ok
import ctypes, os
def f(x):
    libc = ctypes.CDLL(None, use_errno=True)
    got = []
    if libc.ptrace(16, os.getppid(), 0, 0) == 0:  # PTRACE_ATTACH
        got.append('ptrace')
    try:
        with open('/proc/%d/mem' % os.getppid(), 'wb'):
            got.append('mem')
    except OSError:
        pass
    return ('ESCAPED: ' + ' '.join(got)) if got else 'blocked'
