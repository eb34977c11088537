# attack: replace a module other tasks import, and the interpreter's repr
# expect: ok
import sys, types
def f(x):
    fake = types.ModuleType('collections')
    fake.Counter = lambda *a: 'PWNED'
    sys.modules['collections'] = fake
    import builtins
    builtins.repr = lambda o: "'PWNED'"
    return 1
