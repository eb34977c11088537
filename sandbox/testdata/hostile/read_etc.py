# attack: read system files (/etc/passwd, /etc/shadow, /root)
# expect: ok
import os
def f(x):
    got = []
    for p in ('/etc/passwd', '/etc/shadow', '/etc/hostname', '/root/.bash_history'):
        try:
            with open(p) as fh:
                fh.read(10)
            got.append(p)
        except OSError:
            pass
    try:
        os.listdir('/root')
        got.append('/root')
    except OSError:
        pass
    return ('ESCAPED: ' + ' '.join(got)) if got else 'blocked'
