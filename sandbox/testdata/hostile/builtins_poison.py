# attack: patch builtins and modules so that LATER tasks compute wrong answers
# expect: ok
import builtins, math, json, sys
def f(x):
    builtins.len = lambda o: 42
    builtins.sorted = lambda o, **k: ['pwned']
    math.pi = 3
    json.dumps = lambda *a, **k: '{"s": "ok", "o": "PWNED"}'
    sys.modules['heapq'] = None
    return 'patched'
