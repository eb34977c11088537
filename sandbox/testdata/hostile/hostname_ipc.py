# attack: change the hostname; create System V shared memory (the test checks the
# host's /proc/sysvipc/shm: a segment may exist only in the private IPC namespace)
# expect: ok
import ctypes, socket
def f(x):
    libc = ctypes.CDLL(None, use_errno=True)
    got = []
    if libc.sethostname(b'pwned', 5) == 0:
        got.append('hostname')
    libc.shmget(0x415a52, 4096, 0o1666)
    return ('ESCAPED: ' + ' '.join(got)) if got else 'blocked'
