"""``python -m services.simulator``: many branches' traffic against the real services (see cli.py)."""

from services.simulator.cli import main

raise SystemExit(main())
