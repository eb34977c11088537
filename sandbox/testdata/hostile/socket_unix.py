# attack: reach host services over unix sockets (abstract and filesystem)
# expect: error
import socket
def f(x):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect('\0azr-hostile-test')
    return 'ESCAPED: connected'
