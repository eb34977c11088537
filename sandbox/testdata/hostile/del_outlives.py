# attack: finalizers that never end, due when the program's objects die at exit
# expect: ok
class Sticky:
    def __del__(self):
        while True:
            pass
KEEP = [Sticky() for _ in range(3)]
def f(x):
    global LATER
    LATER = Sticky()
    return 'returned'
