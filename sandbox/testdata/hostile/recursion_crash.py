# attack: crash the interpreter with unbounded C recursion (segfault in repr)
# expect: killed|error|memory|timeout
import sys
def f(x):
    sys.setrecursionlimit(10 ** 8)
    v = []
    for _ in range(10 ** 5):
        v = [v]
    return v
