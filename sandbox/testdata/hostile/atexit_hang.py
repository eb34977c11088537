# attack: an atexit hook and a SIGCHLD handler that hang the process on exit
# expect: ok
import atexit, time
atexit.register(lambda: time.sleep(3600))
def f(x):
    return 'returned'
