# attack: read environments and command lines of other processes through /proc
# expect: ok
import os
def f(x):
    got = []
    for p in ('/proc/1/environ', '/proc/self/environ', '/proc/{{GOPID}}/environ', '/proc/{{GOPID}}/cmdline', '/proc/1/cmdline'):
        try:
            with open(p, 'rb') as fh:
                if fh.read(100):
                    got.append(p)
        except OSError:
            pass
    return ('ESCAPED: ' + ' '.join(got)) if got else 'blocked'
