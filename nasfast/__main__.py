"""``python -m nasfast ...`` runs the command line (same as the ``nasfast`` script)."""

import sys

from nasfast.cli import main

sys.exit(main())
