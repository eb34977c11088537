# attack: fill the disk from the task directory
# expect: ok|error|timeout
import os
def f(x):
    n = 0
    try:
        while n < 100000:
            with open('fill%d' % n, 'wb') as fh:
                fh.write(b'\0' * (4 << 20))
            n += 1
    except OSError as e:
        return 'stopped after %d files: %s' % (n, type(e).__name__)
    return 'ESCAPED: wrote %d files' % n
