# attack: write into the host's /tmp and /dev/shm
# expect: ok
def f(x):
    wrote = []
    for p in ('/tmp/azr-pwned', '/dev/shm/azr-pwned', '/var/tmp/azr-pwned'):
        try:
            with open(p, 'w') as fh:
                fh.write('pwned')
            wrote.append(p)
        except OSError:
            pass
    return ('ESCAPED: ' + ' '.join(wrote)) if wrote else 'blocked'
