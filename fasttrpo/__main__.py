"""``python -m fasttrpo``: the ``fasttrpo`` command line (train / eval)."""

import sys

from fasttrpo.cli import main

if __name__ == "__main__":
    sys.exit(main())
