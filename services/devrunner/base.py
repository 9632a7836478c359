"""What every part of the dev runner uses: where the repository is, how it talks, how it fails."""

from __future__ import annotations

from pathlib import Path

import services

REPO_ROOT = Path(services.__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".devstack"
#: same name as shared.crypto.DEV_MODE_ENV; the runner does not import the services' code
DEV_MODE_ENV = "BRANCHCARE_DEV_MODE"
#: same name as shared.contacts.RECEPTION_URL_ENV (read by feedback's contact resolver)
RECEPTION_URL_ENV = "RECEPTION_URL"


class StartupError(RuntimeError):
    """The stack could not come up; the message says what to do."""


def say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)
