"""``branchcare``: the operator command line.

Each module of this package that defines ``register(subcommands)`` adds one command group
(``branchcare relay …``, ``branchcare dlq …``). A command's handler is an ``async`` function of
the parsed arguments returning the process exit code; it prints for a person (tables, progress
lines), never raw JSON unless ``--json`` is given. Database URLs come from each service's
settings (the same environment variables the services read), so the commands work with no
arguments against ``make run`` and with explicit URLs in production.
"""
