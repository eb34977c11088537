# attack: execve a shell through libc
# expect: ok|error
import ctypes
def f(x):
    libc = ctypes.CDLL(None, use_errno=True)
    argv = (ctypes.c_char_p * 4)(b'/bin/sh', b'-c', b'touch {{OUTSIDE}}/pwned', None)
    libc.execv(b'/bin/sh', argv)
    return 'blocked errno %d' % ctypes.get_errno()
