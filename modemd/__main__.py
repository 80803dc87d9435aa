"""`python -m modemd ...` is the same as the `modemd` command."""

import sys

from .cli.main import main

sys.exit(main())
