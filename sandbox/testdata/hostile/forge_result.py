# attack: forge results: write a fake reply to the worker's protocol stream
# (fd 1) and fake frames to every other fd, claiming another request's
# success, then exit cleanly before f returns
# expect: ok|killed
import os
def f(x):
    fake = b'{"s": "ok", "o": "FORGED"}'
    proto = b'\x00\x00\x00\x2e{"id": 1, "status": "ok", "output": "FORGED"}'
    for fd in range(0, 64):
        for data in (proto, fake):
            try:
                os.write(fd, data)
            except OSError:
                pass
    os._exit(0)
