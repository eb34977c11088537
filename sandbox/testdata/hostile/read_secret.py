# attack: read a secret file of the host
# expect: error
def f(x):
    with open('{{CANARY}}') as fh:
        return 'ESCAPED: ' + fh.read()
