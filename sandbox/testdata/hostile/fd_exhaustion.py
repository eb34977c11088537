# attack: exhaust file descriptors and pipes
# expect: ok|error
import os
def f(x):
    fds = []
    try:
        while len(fds) < 100000:
            fds.extend(os.pipe())
    except OSError as e:
        return 'stopped at %d fds' % len(fds)
    return 'ESCAPED: %d fds' % len(fds)
