# attack: start a thread that keeps running after f returns
# expect: ok|error
import threading, time
def f(x):
    def spin():
        while True:
            time.sleep(0.01)
    t = threading.Thread(target=spin, daemon=False)
    t.start()
    return 'ESCAPED: thread started'
