# attack: return a gigantic value (the reference truncated it; we reject it)
# expect: too_large
def f(x):
    return 'x' * (10 ** 7)
