# attack: subprocess (not imported statically through the policy: Run has none)
# expect: error
import subprocess
def f(x):
    out = subprocess.run(['/bin/sh', '-c', 'id; touch {{OUTSIDE}}/pwned'], capture_output=True)
    return 'ESCAPED: ' + out.stdout.decode()
