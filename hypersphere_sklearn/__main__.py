"""``python -m hypersphere_sklearn``: the command line."""

import sys

from .cli import main

sys.exit(main())
