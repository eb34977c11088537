# attack: move itself out of its cgroup or raise the limits
# expect: ok
import os
def f(x):
    got = []
    for p in ('/sys/fs/cgroup/pids/cgroup.procs', '/sys/fs/cgroup/memory/cgroup.procs', '/sys/fs/cgroup/unified/cgroup.procs'):
        try:
            with open(p, 'w') as fh:
                fh.write(str(os.getpid()))
            got.append(p)
        except OSError:
            pass
    return ('ESCAPED: ' + ' '.join(got)) if got else 'blocked'
