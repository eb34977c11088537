# attack: forge a status the program must not choose (a worker-side verdict)
# expect: killed
import os
def f(x):
    for fd in range(3, 64):
        try:
            os.write(fd, b'{"s": "worker_error", "e": "FORGED"}')
        except OSError:
            pass
    os._exit(0)
