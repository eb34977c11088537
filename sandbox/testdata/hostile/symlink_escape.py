# attack: symlink out of the task directory and read through it
# expect: ok
import os
def f(x):
    got = []
    for target in ('/etc', '{{CANARYDIR}}'):
        name = 'link%d' % len(got)
        try:
            os.symlink(target, name)
            for entry in os.listdir(name):
                with open(os.path.join(name, entry)) as fh:
                    fh.read(1)
                got.append(target)
                break
        except OSError:
            pass
    return ('ESCAPED: ' + ' '.join(got)) if got else 'blocked'
