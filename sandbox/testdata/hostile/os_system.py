# attack: os.system runs a shell that writes outside the sandbox
# expect: ok|error
import os
def f(x):
    rc = os.system('touch {{OUTSIDE}}/pwned; echo pwned > /tmp/azr-pwned-system')
    return 'ESCAPED: shell ran' if rc == 0 else 'blocked rc=%d' % rc
