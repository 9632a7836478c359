"""Helpers shared by the integration tests: real service processes, in-process apps, polling."""

from tests.support.services import ServiceProcess, running_services, serve_app, wait_until

__all__ = ["ServiceProcess", "running_services", "serve_app", "wait_until"]
