"""``python -m services.hq`` runs HQ; ``python -m services.hq rebuild [--wait]`` rebuilds its read model
from the topics (see services/hq/rebuild.py)."""

from __future__ import annotations

import sys

if len(sys.argv) > 1 and sys.argv[1] == "rebuild":
    from services.hq.cli import rebuild_main

    raise SystemExit(rebuild_main(sys.argv[2:]))

from services.hq.service import SERVICE
from shared.runner import main

main(SERVICE)
