# attack: flood every inherited fd with data to exhaust the worker's memory
# expect: too_large|killed|timeout
import os
def f(x):
    junk = b'A' * (1 << 20)
    for fd in range(3, 64):
        try:
            for _ in range(256):
                os.write(fd, junk)
        except OSError:
            pass
    return 'flooded'
