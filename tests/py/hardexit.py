"""Shared ending of the independent checkers: run `main`, print, leave without teardown.

The verdict is printed before the interpreter exits; pyarrow's C++ thread pools have been
seen to abort during interpreter teardown on a loaded machine ("terminate called without an
active exception"), which turned an OK into a failure. `os._exit` skips that teardown.
"""
import os
import sys


def run(main):
    try:
        code = main()
    except SystemExit as e:
        code = e.code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))
