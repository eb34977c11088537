# attack: classic builtins escape through object.__subclasses__ to reach os.system
# expect: ok|error
def f(x):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == '_wrap_close':
            system = c.__init__.__globals__['system']
            rc = system('touch {{OUTSIDE}}/pwned')
            return 'ESCAPED: rc=%d' % rc if rc == 0 else 'blocked rc=%d' % rc
    return 'not found'
