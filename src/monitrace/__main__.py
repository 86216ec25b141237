"""``python -m monitrace ...``: the same as the ``monitrace`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
