# attack: fork through libc with ctypes, bypassing Python's os module
# expect: ok|error
import ctypes, os
def f(x):
    libc = ctypes.CDLL(None, use_errno=True)
    pid = libc.fork()
    if pid == 0:
        os._exit(0)
    if pid > 0:
        return 'ESCAPED: libc fork gave pid %d' % pid
    return 'blocked errno %d' % ctypes.get_errno()
