# attack: read environment variables (host secrets, PATH, HOME)
# expect: ok
import os
def f(x):
    env = dict(os.environ)
    if any(k not in ('PYTHONHASHSEED', 'PYTHONHOME') for k in env):
        return 'ESCAPED: ' + repr(sorted(env))
    return 'clean: ' + repr(sorted(env))
