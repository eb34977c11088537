# attack: write a file outside the task directory
# expect: error
def f(x):
    with open('{{OUTSIDE}}/pwned', 'w') as fh:
        fh.write('pwned')
    return 'ESCAPED: wrote outside'
