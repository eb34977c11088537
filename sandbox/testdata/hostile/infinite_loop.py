# attack: plain infinite loop
# expect: timeout
def f(x):
    while True:
        x += 1
