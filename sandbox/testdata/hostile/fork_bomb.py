# attack: fork bomb (os.fork in a loop; every child forks again)
# expect: ok|error|killed|timeout
import os
def f(x):
    n = 0
    while n < 10000:
        try:
            pid = os.fork()
        except OSError as e:
            return 'blocked after %d forks: %s' % (n, e)
        if pid == 0:
            while True:
                os.fork()
        n += 1
    return 'ESCAPED: forked %d times' % n
