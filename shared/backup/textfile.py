"""The backup and drill metrics, as files for node_exporter's textfile collector.

Why a file: ``branchcare backup`` and ``restore-drill`` are short-lived jobs (cron, a Kubernetes
CronJob); a scrape would miss them, and a Pushgateway is one more thing to run. node_exporter
(``--collector.textfile.directory``) serves every ``*.prom`` file of a directory on each scrape —
the way pgBackRest and backup jobs are usually watched. Each command rewrites its own file
atomically (write, fsync, rename) and keeps the previous last-success time when it fails, so
"no success for a day" stays visible whether the job fails or never runs.

Directory: ``--metrics-dir``, else ``BRANCHCARE_METRICS_TEXTFILE_DIR``, else the backup directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

METRICS_DIR_ENV = "BRANCHCARE_METRICS_TEXTFILE_DIR"

_HELP = {
    "last_success_timestamp_seconds": "Unix time of the last successful run",
    "last_run_timestamp_seconds": "Unix time of the last run, successful or not",
    "last_run_success": "1 if the last run succeeded, else 0",
    "last_duration_seconds": "How long the last run took",
    "last_size_bytes": "Size of the dumps of the last successful backup",
    "last_differences": "Tables that differed in the last drill (0 = everything matched)",
}


def metrics_dir(explicit: Path | None, backup_dir: Path) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get(METRICS_DIR_ENV)
    return Path(env) if env else backup_dir


def _previous(path: Path, name: str) -> float | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def write_job_metrics(
    directory: Path, job: str, *, ok: bool, at: float, duration: float, extra: dict[str, float] | None = None
) -> Path:
    """Write ``branchcare_<job>.prom`` with ``branchcare_<job>_*`` gauges; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"branchcare_{job}.prom"
    success_name = f"branchcare_{job}_last_success_timestamp_seconds"
    last_success: float | None = at if ok else _previous(path, success_name)
    values: dict[str, float | None] = {
        "last_success_timestamp_seconds": last_success,
        "last_run_timestamp_seconds": at,
        "last_run_success": 1.0 if ok else 0.0,
        "last_duration_seconds": duration,
    }
    values.update(extra or {})
    lines: list[str] = []
    for key, measured in values.items():
        if measured is None:
            continue  # never succeeded: absent, which the alert also catches
        name = f"branchcare_{job}_{key}"
        lines += [f"# HELP {name} {_HELP.get(key, key)}", f"# TYPE {name} gauge", f"{name} {measured:.17g}"]
    tmp = path.with_suffix(".prom.tmp")
    with tmp.open("w") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.rename(path)
    return path
