"""A real Prometheus (Debian package) scraping a real complaint service sees an SLA breach.

The complaint service runs as ``python -m services.complaint`` with a policy file whose
``complaint.acknowledge`` limit is 2 s, so its own deadline scheduler breaches a fresh complaint
within seconds; Prometheus scrapes it every second with the project's alerting rules loaded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.devstack import die_with_parent, free_port, wait_http_ok
from shared.sla.policy import PolicyBook
from tests.support.auth import bearer
from tests.support.harness import service_process
from tests.support.services import REPO_ROOT, ServiceProcess, wait_until

pytestmark = pytest.mark.integration

PROMETHEUS = shutil.which("prometheus")
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules.yml"
BREACH_SERIES = 'branchcare_sla_breaches_total{service="complaint",sla="complaint.acknowledge"}'


def bootstrap_servers(kafka: Any) -> str:
    """The ``kafka`` fixture's address, whether it yields a broker object or the address itself."""
    return str(getattr(kafka, "bootstrap_servers", kafka))


@pytest.fixture
def fast_policies(tmp_path: Path) -> Path:
    """A copy of the default policy book with ``complaint.acknowledge`` shortened to 2 s."""
    text = (REPO_ROOT / "shared" / "sla" / "policies.toml").read_text(encoding="utf-8")
    text, n = re.subn(
        r'(\[sla\."complaint\.acknowledge"\][^\[]*?duration\s*=\s*)"[^"]*"', r'\1"2s"', text, count=1
    )
    assert n == 1, "policies.toml has no complaint.acknowledge duration to shorten"
    path = tmp_path / "policies.toml"
    path.write_text(text, encoding="utf-8")
    assert PolicyBook.load(path).policy("complaint.acknowledge").duration == timedelta(seconds=2)
    return path


class PrometheusServer:
    """The ``prometheus`` binary on a free port, its TSDB and log in a temporary directory."""

    def __init__(self, workdir: Path, scrape_targets: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / "prometheus.log"
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            for job, target in scrape_targets.items()
        )
        self.config = workdir / "prometheus.yml"
        self.config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - '{RULES}'\n"
            f"scrape_configs:\n{jobs}",
            encoding="utf-8",
        )
        self._proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        """Start the process (from the main thread: die_with_parent ties it to the spawning thread)."""
        assert PROMETHEUS is not None
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # never outlives the test run
            )

    async def start(self, timeout: float = 20.0) -> None:
        """Spawn and wait until ``/-/ready`` answers."""
        self.spawn()
        try:
            await wait_http_ok(f"{self.url}/-/ready", timeout, alive=lambda: self.running)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"prometheus did not start: {exc}\n{self.log_tail()}") from None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, SIGKILL after 10 s. Idempotent."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def api(self, client: httpx.AsyncClient, path: str, **params: str) -> Any:
        response = await client.get(f"{self.url}/api/v1/{path}", params=params)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]


@pytest.fixture
async def complaint_service(
    database_url: str, private_broker: Any, fast_policies: Path, tmp_path: Path
) -> AsyncIterator[ServiceProcess]:
    # A broker of its own: the session broker carries other tests' visits and feedback, which the
    # complaint service would turn into cases whose deadlines breach too.
    service = service_process(
        "complaint",
        database_url,
        bootstrap_servers(private_broker),
        env={"SLA_POLICIES_FILE": str(fast_policies)},
        log_dir=tmp_path,
    )
    async with service:
        yield service


PrometheusFactory = Callable[[dict[str, str]], PrometheusServer]


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[PrometheusFactory]:
    """Make a (not yet started) Prometheus scraping ``{job: host:port}``; stopped after the test."""
    if PROMETHEUS is None:
        pytest.skip("no prometheus binary: run deploy/install-tools.sh (Debian package prometheus)")
    servers: list[PrometheusServer] = []

    def make(targets: dict[str, str]) -> PrometheusServer:
        workdir = tmp_path / f"prometheus-{len(servers)}"
        workdir.mkdir()
        servers.append(PrometheusServer(workdir, targets))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def breaches_exported(metrics_text: str) -> float:
    """The service's own ``/metrics`` value of the acknowledge breach counter (0 if absent)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "branchcare_sla_breaches_total"
        and sample.labels == {"service": "complaint", "sla": "complaint.acknowledge"}
    )


async def test_sla_breach_series_appears_in_prometheus_after_a_breach(
    complaint_service: ServiceProcess, prometheus_server: PrometheusFactory
) -> None:
    prometheus = prometheus_server({"complaint": f"127.0.0.1:{complaint_service.port}"})
    await prometheus.start()
    async with httpx.AsyncClient(timeout=5.0) as client:
        # No breach before there is a complaint.
        exported = await client.get(f"{complaint_service.url}/metrics")
        assert breaches_exported(exported.text) == 0

        # Received while Prometheus is still discovering its target (its discovery waits ~5 s).
        received = await client.post(
            f"{complaint_service.url}/branches/b001/complaints",
            json={
                "channel": "in_branch",
                "customer_ref": "cust_ref_0001",
                "description": "Waited 40 minutes and the counter closed",
            },
            headers=bearer("lobby-1", ["b001"]),
        )
        assert received.status_code == 201, received.text

        # Nobody acknowledges it: after 2 s the scheduler breaches it and counts the breach.
        async def breached() -> float:
            data = await prometheus.api(client, "query", query=BREACH_SERIES)
            return max((float(s["value"][1]) for s in data["result"]), default=0.0)

        try:
            count: float = await wait_until(breached, timeout=30, interval=0.25)
        except TimeoutError:
            pytest.fail(
                f"{BREACH_SERIES} never appeared in Prometheus within 30 s\n"
                f"--- complaint log ---\n{complaint_service.log_tail()}\n"
                f"--- prometheus log ---\n{prometheus.log_tail()}"
            )
        assert count == 1

        # The project's rules load and evaluate without error against the real series, and the
        # breach rate by policy has the series, labelled by service and policy only.
        async def recorded() -> list[dict[str, Any]]:
            data = await prometheus.api(
                client, "query", query='branchcare:sla_breaches:rate5m{sla="complaint.acknowledge"}'
            )
            return list(data["result"])

        series: list[dict[str, Any]] = await wait_until(recorded, timeout=15, interval=0.25)
        assert series[0]["metric"] == {
            "__name__": "branchcare:sla_breaches:rate5m",
            "service": "complaint",
            "sla": "complaint.acknowledge",
        }
        groups = (await prometheus.api(client, "rules"))["groups"]
        assert {g["name"] for g in groups} >= {"branchcare-sla-alerts", "branchcare-pipeline"}
        broken = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] == "err"]
        assert broken == []
    prometheus.stop()
    assert not prometheus.running
