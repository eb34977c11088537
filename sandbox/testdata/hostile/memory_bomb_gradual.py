# attack: grow memory step by step (each step small)
# expect: memory|killed|timeout
def f(x):
    hoard = []
    while True:
        hoard.append(bytearray(16 << 20))
        if len(hoard) > 4096:
            return 'ESCAPED: 64 GiB'
