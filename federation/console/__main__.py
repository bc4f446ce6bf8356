"""``python -m federation.console``: the console's process (see :mod:`federation.console.process`)."""

import sys

from .process import main

sys.exit(main())
