# attack: enumerate host processes through /proc
# expect: ok|error
import os
def f(x):
    pids = [p for p in os.listdir('/proc') if p.isdigit()]
    return 'ESCAPED: sees %d pids' % len(pids)
