"""Helpers shared by the tests. Services run through one harness, ``tests.support.harness``
(in-process or as a process, against the real PostgreSQL and broker); ``services`` has the process
and polling primitives it uses; ``decider`` is given/when/then for every decider."""

from tests.support.services import ServiceProcess, running_services, serve_app, wait_until

__all__ = ["ServiceProcess", "running_services", "serve_app", "wait_until"]
