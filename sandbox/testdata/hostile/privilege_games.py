# attack: become root, unshare into new namespaces, mount, chroot
# expect: ok
import ctypes, os
def f(x):
    libc = ctypes.CDLL(None, use_errno=True)
    got = []
    try:
        os.setuid(0)
        got.append('setuid')
    except OSError:
        pass
    if libc.unshare(0x10000000 | 0x00020000) == 0:
        got.append('unshare')
    if libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0:
        got.append('mount')
    if libc.chroot(b'/') == 0:
        got.append('chroot')
    return ('ESCAPED: ' + ' '.join(got)) if got else 'blocked'
