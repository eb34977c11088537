# attack: send a UDP datagram to the host's loopback
# expect: error
import socket
def f(x):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b'pwned', ('127.0.0.1', {{PORT}}))
    return 'ESCAPED: sent'
