# attack: allocate far more memory than allowed at once
# expect: memory
def f(x):
    a = [0] * (10 ** 10)
    return 'ESCAPED: %d' % len(a)
