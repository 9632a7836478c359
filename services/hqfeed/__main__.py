"""``python -m services.hqfeed`` runs the branch-side aggregator that publishes HQ's contract."""

from __future__ import annotations

from services.hqfeed.service import SERVICE
from shared.runner import main

main(SERVICE)
