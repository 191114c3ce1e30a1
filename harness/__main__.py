"""`python -m harness`: see harness.commands.cli."""

import sys

from harness.commands.cli import main

sys.exit(main())
