# attack: a loop inside C code (catastrophic regex backtracking), deaf to Python signal handlers
# expect: timeout
import re
def f(x):
    return bool(re.match(r'(a*)*b', 'a' * 64))
