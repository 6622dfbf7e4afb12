"""``python -m inverse_mel``: the ``inverse-mel`` command-line tool (see :mod:`inverse_mel.cli`);
without arguments it runs the built-in demo (:mod:`inverse_mel.demo`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
