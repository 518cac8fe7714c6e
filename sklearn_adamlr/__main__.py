"""``python -m sklearn_adamlr``: train every solver and compare with scikit-learn."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
