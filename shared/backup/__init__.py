"""Backups that are proven: ``branchcare backup`` and ``branchcare restore-drill``.

- :mod:`.targets` — which databases hold which service schemas (explicit URLs, the services'
  environment, or the ``make run`` stack's embedded server);
- :mod:`.pgtools` — ``pg_dump`` / ``pg_restore`` of the PostgreSQL installation in use;
- :mod:`.tables` — per-table row counts and checksums, each store's last event position;
- :mod:`.take` — one consistent dump per database plus a manifest;
- :mod:`.drill` — restore into scratch databases, re-apply the erasure log, rebuild, compare;
- :mod:`.rebuilders` — read models the drill rebuilds from the restored event stores;
- :mod:`.textfile` — the metrics Prometheus scrapes (node_exporter's textfile collector).
"""
