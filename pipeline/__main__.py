"""``python -m pipeline``: the command line, ended without the interpreter's teardown once it is done."""

from pipeline.cli import exit_without_teardown, main

try:
    main()
except SystemExit as done:
    if done.code is not None and not isinstance(done.code, int):
        raise  # a message instead of a code: the interpreter prints it and exits 1
    exit_without_teardown(done.code or 0)
exit_without_teardown(0)
