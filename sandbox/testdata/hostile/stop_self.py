# attack: stop itself with SIGSTOP so it never exits
# expect: timeout
import os, signal
def f(x):
    os.kill(os.getpid(), signal.SIGSTOP)
    return 'ESCAPED: resumed'
