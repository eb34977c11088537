# attack: connect to a TCP listener on the host's loopback
# expect: error
import socket
def f(x):
    s = socket.create_connection(('127.0.0.1', {{PORT}}), timeout=0.2)
    s.sendall(b'pwned')
    return 'ESCAPED: connected'
