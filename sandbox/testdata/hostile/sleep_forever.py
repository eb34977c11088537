# attack: sleep far past the deadline
# expect: timeout
import time
def f(x):
    time.sleep(3600)
    return 'ESCAPED: woke up'
