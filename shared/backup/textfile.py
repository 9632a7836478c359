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

import re
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from shared.settings import ToolSettings

METRICS_DIR_ENV = "BRANCHCARE_METRICS_TEXTFILE_DIR"


def _backup_gauges(registry: CollectorRegistry) -> dict[str, Gauge]:
    return {
        "last_success_timestamp_seconds": Gauge(
            "branchcare_backup_last_success_timestamp_seconds",
            "Unix time of the last successful backup",
            registry=registry,
        ),
        "last_run_timestamp_seconds": Gauge(
            "branchcare_backup_last_run_timestamp_seconds",
            "Unix time of the last backup run",
            registry=registry,
        ),
        "last_run_success": Gauge(
            "branchcare_backup_last_run_success", "1 if the last backup succeeded, else 0", registry=registry
        ),
        "last_duration_seconds": Gauge(
            "branchcare_backup_last_duration_seconds", "How long the last backup took", registry=registry
        ),
        "last_size_bytes": Gauge(
            "branchcare_backup_last_size_bytes",
            "Size of the dumps of the last successful backup",
            registry=registry,
        ),
    }


def _drill_gauges(registry: CollectorRegistry) -> dict[str, Gauge]:
    return {
        "last_success_timestamp_seconds": Gauge(
            "branchcare_restore_drill_last_success_timestamp_seconds",
            "Unix time of the last restore drill that passed",
            registry=registry,
        ),
        "last_run_timestamp_seconds": Gauge(
            "branchcare_restore_drill_last_run_timestamp_seconds",
            "Unix time of the last restore drill, passed or not",
            registry=registry,
        ),
        "last_run_success": Gauge(
            "branchcare_restore_drill_last_run_success",
            "1 if the last drill passed, else 0",
            registry=registry,
        ),
        "last_duration_seconds": Gauge(
            "branchcare_restore_drill_last_duration_seconds",
            "How long the last drill took",
            registry=registry,
        ),
        "last_differences": Gauge(
            "branchcare_restore_drill_last_differences",
            "Checks that failed in the last drill (0 = everything matched)",
            registry=registry,
        ),
    }


_JOBS = {"backup": _backup_gauges, "restore_drill": _drill_gauges}


def metrics_dir(explicit: Path | None, backup_dir: Path) -> Path:
    if explicit is not None:
        return explicit
    env = ToolSettings().branchcare_metrics_textfile_dir
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
    """Write ``branchcare_<job>.prom`` (``job``: ``backup`` or ``restore_drill``); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"branchcare_{job}.prom"
    registry = CollectorRegistry()
    gauges = _JOBS[job](registry)
    last_success = at if ok else _previous(path, f"branchcare_{job}_last_success_timestamp_seconds")
    values: dict[str, float | None] = {
        "last_success_timestamp_seconds": last_success,
        "last_run_timestamp_seconds": at,
        "last_run_success": 1.0 if ok else 0.0,
        "last_duration_seconds": duration,
        **(extra or {}),
    }
    for key, gauge in gauges.items():
        measured = values.get(key)
        if measured is None:  # never succeeded (or not measured): absent, which the alerts catch too
            registry.unregister(gauge)
        else:
            gauge.set(measured)
    write_to_textfile(str(path), registry)  # a temporary file renamed into place
    return path
