# attack: look for other tasks' directories and the sandbox's own files
# expect: ok
import os, glob
def f(x):
    seen = []
    for pattern in ('/tmp/azr-sandbox-*', '/tmp/azr-sandbox-*/*', '{{OUTSIDE}}'):
        try:
            for p in glob.glob(pattern):
                os.listdir(p)
                seen.append(p)
        except OSError:
            pass
    return ('ESCAPED: ' + ' '.join(seen)) if seen else 'blocked'
