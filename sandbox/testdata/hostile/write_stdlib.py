# attack: plant a module in the interpreter's stdlib to poison later tasks
# expect: ok
import os, sys
def f(x):
    planted = []
    for d in sys.path + [os.path.dirname(os.__file__)]:
        try:
            with open(os.path.join(d, 'heapq_pwned.py'), 'w') as fh:
                fh.write('PWNED = 1\n')
            planted.append(d)
        except OSError:
            pass
    return ('ESCAPED: ' + ' '.join(planted)) if planted else 'blocked'
