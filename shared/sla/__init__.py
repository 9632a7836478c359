"""The SLA clock: policies as data, business calendars, deadlines in a table, a scheduler.

- :mod:`calendar` — opening hours and holidays; open time added and measured, pauses excluded.
- :mod:`policy` — SLA policies loaded from ``policies.toml`` (defaults + per-branch overrides).
- :mod:`deadlines` — deadlines stored per service, started/met/paused within a command's transaction.
- :mod:`subject` — what a deadline is about (kind, id, stream, branch), as one value.
- :mod:`scheduler` — fires at-risk and breach milestones exactly once, also after downtime.
"""
