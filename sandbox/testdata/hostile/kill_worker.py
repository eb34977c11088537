# attack: kill the worker (its parent), pid 1 of its namespace, and everything else
# expect: ok|error|killed
import os, signal
def f(x):
    hits = []
    for pid in (os.getppid(), 1, -1):
        try:
            os.kill(pid, signal.SIGKILL)
            hits.append(pid)
        except OSError:
            pass
    return 'ESCAPED: signalled %r' % hits if [p for p in hits if p != -1] else 'blocked'
