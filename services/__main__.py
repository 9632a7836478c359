"""Dev runner: ``python -m services`` (what ``make run`` runs); see :mod:`services.devrunner`."""

import sys

from services.devrunner.cli import main

if __name__ == "__main__":
    sys.exit(main())
