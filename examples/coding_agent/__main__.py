"""``python -m examples.coding_agent``: see ``cli``."""

import sys

from .cli import main

sys.exit(main())
