"""Dev runner: ``python -m services`` (what ``make run`` runs).

Starts the infrastructure (embedded PostgreSQL and a Tansu broker, unless ``DATABASE_URL`` /
``KAFKA_BOOTSTRAP_SERVERS`` are set), creates the topics, starts every service package that has
a ``__main__.py`` as ``python -m services.<name>``, waits for their ``/health``, prints their
URLs and ready-made staff tokens (``shared.devtokens``, development mode only), and stays up until
Ctrl-C or SIGTERM, then stops everything in reverse order.

The children run with ``BRANCHCARE_DEV_MODE=1`` unless the environment says otherwise: without
``BRANCHCARE_JWT_SECRET`` / ``BRANCHCARE_PII_KEY`` / ``BRANCHCARE_MASTER_KEY`` they use the public
development keys (never in production), and the printed tokens are signed with the same secret.
The feedback service gets ``RECEPTION_URL`` so its SMS sender resolves phone numbers in the vault.
"""
