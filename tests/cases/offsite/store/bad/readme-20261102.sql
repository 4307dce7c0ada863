hello, not a dump
