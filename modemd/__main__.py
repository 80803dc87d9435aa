"""`python -m modemd ...` is the same as the `modemd` command."""

import sys

from .cli import main

sys.exit(main())
