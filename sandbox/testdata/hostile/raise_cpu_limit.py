# attack: lift its own CPU and address-space limits, then loop
# expect: timeout|error
import resource
def f(x):
    inf = resource.RLIM_INFINITY
    resource.setrlimit(resource.RLIMIT_CPU, (inf, inf))
    resource.setrlimit(resource.RLIMIT_AS, (inf, inf))
    while True:
        pass
