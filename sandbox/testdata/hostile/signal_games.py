# attack: ignore SIGTERM/SIGALRM/SIGINT/SIGXCPU, then loop
# expect: timeout
import signal
def f(x):
    for s in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGXCPU, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    while True:
        pass
