"""``python -m simulators``: the same as ``telediag-sim``."""

import sys

from simulators.cli import main

sys.exit(main())
