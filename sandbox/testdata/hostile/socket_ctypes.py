# attack: open a socket through libc, bypassing the socket module
# expect: ok|error
import ctypes
def f(x):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.socket(2, 1, 0)
    return ('ESCAPED: socket fd %d' % fd) if fd >= 0 else 'blocked errno %d' % ctypes.get_errno()
