"""The operations files in deploy/ and docker-compose.yml agree with the code.

- promtool checks the Prometheus config and rules and runs their unit tests;
- every alert and recording rule has a promtool unit test; rules use only metrics the code
  defines (plus the few documented as assumed), bounded labels, and routable severities;
- docker-compose.yml parses, runs every service package, passes only environment variables the
  code reads, and mounts the Prometheus and Grafana files;
- the Grafana dashboards parse, query only metrics that exist, and their PromQL is valid.

There is no Docker engine here, so the compose file is checked statically.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import ServiceSettings
from shared.topology import CONTEXTS, DEFAULT_PORTS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
COMPOSE = ROOT / "docker-compose.yml"

#: Metrics the rules use before any service exports them, with what the service must do.
ASSUMED_METRICS: dict[str, str] = {}
#: Policies without an objective, on purpose (see rules.yml).
NO_OBJECTIVE = {"feedback.survey_window"}
SEVERITIES = {"page", "warning", "ticket"}
TEAMS = {"service-quality", "platform"}
#: Labels that would make a series per branch, case, visit or customer.
UNBOUNDED_LABELS = ("branch", "branch_id", "complaint_id", "visit_id", "customer_ref", "case_id", "task_id")
PROMQL_METRIC = re.compile(r"\b(branchcare_[a-z0-9_]+|branchcare:[a-z0-9_:]+)")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
ENV_SUFFIX = re.compile(r"^_[A-Z][A-Z0-9_]*$")


# ---------------------------------------------------------------------------------------- helpers


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed: run deploy/install-tools.sh (Debian package prometheus)")
    return path


def run_promtool(*args: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@cache
def rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def records() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def service_packages() -> list[str]:
    """Packages under services/ that ``python -m services.<name>`` runs (the dev runner's rule)."""
    return sorted(
        path.parent.name
        for path in (ROOT / "services").glob("*/__main__.py")
        if (path.parent / "__init__.py").exists()
        and path.parent.name.isidentifier()
        and not (path.parent / "NOT_A_SERVICE").exists()  # a tool, e.g. the simulator
    )


def runner_packages() -> list[str]:
    """Service packages run by ``shared.runner``: ServiceSettings, ``/metrics``, a default port."""
    return [
        name
        for name in service_packages()
        if "shared.runner" in (ROOT / "services" / name / "__main__.py").read_text(encoding="utf-8")
    ]


def python_sources() -> Iterator[tuple[Path, ast.Module]]:
    for base in ("shared", "services"):
        for path in sorted((ROOT / base).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@cache
def code_metrics() -> frozenset[str]:
    """Series names the code exports: prometheus_client metric constructors' names, expanded."""
    kinds = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}
    names: set[str] = set()
    for _path, tree in python_sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            kind = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            first = node.args[0]
            if kind not in kinds or not isinstance(first, ast.Constant) or not isinstance(first.value, str):
                continue
            name = first.value
            if kind == "Counter":
                base = name.removesuffix("_total")
                names |= {f"{base}_total", f"{base}_created"}
            elif kind == "Histogram":
                names |= {name, f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
            elif kind == "Summary":
                names |= {name, f"{name}_sum", f"{name}_count", f"{name}_created"}
            else:
                names.add(name)
    return frozenset(names)


def _settings_fields(cls: ast.ClassDef) -> tuple[str, list[str]]:
    """(env_prefix, field names) of a pydantic-settings class body."""
    prefix = ""
    fields: list[str] = []
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if stmt.target.id != "model_config" and not stmt.target.id.startswith("_"):
                fields.append(stmt.target.id)
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            value = stmt.value
            for call in ast.walk(value) if value is not None else ():
                if isinstance(call, ast.Call):
                    for kw in call.keywords:
                        if kw.arg == "env_prefix" and isinstance(kw.value, ast.Constant):
                            prefix = str(kw.value.value)
    return prefix, fields


@cache
def env_names_read_by_code() -> frozenset[str]:
    """Environment variables the services read.

    ServiceSettings' fields, every pydantic-settings class's fields (with its env_prefix), and, in
    modules that read ``os.environ`` directly, the upper-case string literals plus the names built
    from a service name and a literal suffix (e.g. ``name.upper() + "_URL"`` → ``COMPLAINT_URL``).
    """
    names = {name.upper() for name in ServiceSettings.model_fields}
    prefixes = {name.upper() for name in (*CONTEXTS, *service_packages())}
    for _path, tree in python_sources():
        source_reads_env = False
        literals: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if bases & {"BaseSettings", "ServiceSettings"}:
                    prefix, fields = _settings_fields(node)
                    names |= {(prefix + field).upper() for field in fields}
            elif isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                source_reads_env = True
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if ENV_NAME.match(node.value):
                    literals.add(node.value)
                elif ENV_SUFFIX.match(node.value):
                    literals |= {prefix + node.value for prefix in prefixes}
        if source_reads_env:
            names |= literals
    return frozenset(names)


def compose() -> dict[str, Any]:
    if not COMPOSE.exists():
        pytest.fail("docker-compose.yml is missing")
    doc = load_yaml(COMPOSE)
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict), "no services: mapping"
    return doc


def command_text(spec: dict[str, Any]) -> str:
    parts = []
    for key in ("entrypoint", "command"):
        value = spec.get(key)
        parts.append(" ".join(map(str, value)) if isinstance(value, list) else str(value or ""))
    return " ".join(parts)


def app_services(doc: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Compose services that run a BranchCare service package: name → (package, spec)."""
    found = {}
    for name, spec in doc["services"].items():
        match = re.search(r"services\.([a-z_][a-z0-9_]*)", command_text(spec))
        if match:
            found[name] = (match.group(1), spec)
    return found


def environment(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def service_environment(spec: dict[str, Any]) -> dict[str, str]:
    """``environment`` (YAML anchors and merge keys are resolved by the loader) plus ``env_file``s."""
    merged = dict(environment(spec))
    for env_file in (
        [spec["env_file"]] if isinstance(spec.get("env_file"), str) else spec.get("env_file") or []
    ):
        path = ROOT / (env_file if isinstance(env_file, str) else env_file["path"])
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                merged.setdefault(key.strip(), value.strip())
    return merged


def volume_sources(spec: dict[str, Any]) -> dict[str, str]:
    """Bind mounts of a compose service: container path → host path (relative to the repo)."""
    mounts = {}
    for volume in spec.get("volumes") or []:
        if isinstance(volume, str):
            host, _, rest = volume.partition(":")
            target = rest.split(":")[0]
        else:
            host, target = volume.get("source", ""), volume.get("target", "")
        mounts[target] = host.removeprefix("./")
    return mounts


# ------------------------------------------------------------------------------------ Prometheus


def test_promtool_checks_the_config_and_its_rule_files() -> None:
    output = run_promtool("check", "config", "prometheus.yml", cwd=PROMETHEUS_DIR)
    assert "rules.yml" in output and "SUCCESS" in output


def test_promtool_checks_the_rules() -> None:
    output = run_promtool("check", "rules", str(RULES))
    assert f"SUCCESS: {len(rules())} rules found" in output


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    assert RULE_TESTS, "no deploy/prometheus/tests/*.test.yml"
    output = run_promtool("test", "rules", *map(str, RULE_TESTS))
    assert output.count("SUCCESS") == len(RULE_TESTS)


def test_config_scrapes_every_service_and_loads_the_rules() -> None:
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    assert config["rule_files"] == ["rules.yml"]
    targets = {
        job["job_name"]: {t for static in job.get("static_configs", []) for t in static["targets"]}
        for job in config["scrape_configs"]
    }
    assert runner_packages(), "no service packages found"
    for name in runner_packages():
        assert name in DEFAULT_PORTS, f"services/{name} has no port in shared/topology.py DEFAULT_PORTS"
        assert targets.get(name) == {f"{name}:{DEFAULT_PORTS[name]}"}, (
            f"prometheus.yml does not scrape {name}"
        )
    for job in config["scrape_configs"]:  # a target label "service" would clash with the metrics' own
        for static in job.get("static_configs", []):
            assert "service" not in static.get("labels", {})


def test_every_rule_has_a_promtool_unit_test() -> None:
    tests = [case for path in RULE_TESTS for case in load_yaml(path)["tests"]]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    tested_exprs = " ".join(check["expr"] for case in tests for check in case.get("promql_expr_test", []))
    alert_names = {rule["alert"] for rule in alerts()}
    assert alert_names - firing == set(), "alerts never tested firing"
    assert alert_names - quiet == set(), "alerts never tested staying quiet"
    # a recording rule is tested directly, or through a tested rule that uses it
    covered_exprs = [tested_exprs, *(rule["expr"] for rule in alerts())]
    untested = set(records())
    while True:
        newly = {
            name for name in untested if any(re.search(re.escape(name) + r"\b", e) for e in covered_exprs)
        }
        if not newly:
            break
        untested -= newly
        covered_exprs += [rule["expr"] for rule in rules() if rule.get("record") in newly]
    assert untested == set()


def test_alerts_are_routable_and_explained() -> None:
    for rule in alerts():
        assert rule["labels"].get("severity") in SEVERITIES, rule["alert"]
        assert rule["labels"].get("team") in TEAMS, rule["alert"]
        assert {"summary", "description"} <= set(rule.get("annotations", {})), rule["alert"]
        assert rule["alert"].startswith("BranchCare"), rule["alert"]


def test_rules_keep_labels_bounded_and_use_existing_metrics() -> None:
    for rule in rules():
        expr = rule["expr"]
        for label in UNBOUNDED_LABELS:
            assert not re.search(rf"\b{label}\b", expr), f"{rule.get('alert') or rule['record']}: {label}"
        for name in PROMQL_METRIC.findall(expr):
            assert name in code_metrics() or name in records() or name in ASSUMED_METRICS, (
                f"{rule.get('alert') or rule['record']} uses {name}, which no code defines"
            )


def test_assumed_metrics_are_still_missing_or_listed() -> None:
    """Once a service defines an assumed metric, drop it from ASSUMED_METRICS (and the report)."""
    now_defined = set(ASSUMED_METRICS) & code_metrics()
    assert now_defined == set(), f"defined in code now, remove from ASSUMED_METRICS: {sorted(now_defined)}"


def test_every_sla_policy_has_an_objective() -> None:
    with (ROOT / "shared" / "sla" / "policies.toml").open("rb") as handle:
        policies = set(tomllib.load(handle)["sla"])
    objectives = {
        rule["labels"]["sla"]: float(re.fullmatch(r"vector\(([0-9.]+)\)", rule["expr"]).group(1))  # type: ignore[union-attr]
        for rule in rules()
        if rule.get("record") == "branchcare:sla_objective:ratio"
    }
    assert set(objectives) == policies - NO_OBJECTIVE
    for sla, objective in objectives.items():
        # 14.4x the budget must stay below 100 % breached, or the fast burn alert could never fire
        assert 0.9 < objective < 1 and 14.4 * (1 - objective) < 1, sla


# -------------------------------------------------------------------------------- docker-compose


def test_compose_runs_every_service_package() -> None:
    doc = compose()
    running = {package: name for name, (package, _spec) in app_services(doc).items()}
    missing = set(service_packages()) - set(running)
    assert missing == set(), f"docker-compose.yml does not run services.{sorted(missing)}"
    unknown = set(running) - set(service_packages())
    assert unknown == set(), f"docker-compose.yml runs packages that do not exist: {sorted(unknown)}"
    for package, name in running.items():
        assert name == package, f"compose service {name} runs services.{package}: name it {package}"


def test_compose_passes_only_environment_variables_the_code_reads() -> None:
    doc = compose()
    known = env_names_read_by_code()
    required = {name.upper() for name, field in ServiceSettings.model_fields.items() if field.is_required()}
    for name, (package, spec) in app_services(doc).items():
        env = service_environment(spec)
        unknown = set(env) - known
        assert unknown == set(), f"{name}: the code reads no {sorted(unknown)}"
        if package in runner_packages():
            assert required <= set(env), f"{name}: missing {sorted(required - set(env))}"
            port = int(env.get("HTTP_PORT") or DEFAULT_PORTS[package])
            assert port == DEFAULT_PORTS[package], f"{name} listens on {port}, prometheus.yml scrapes another"


def test_compose_has_the_infrastructure_with_health_checks() -> None:
    services = compose()["services"]
    for name in ("kafka", "postgres", "prometheus", "grafana"):
        assert name in services, f"docker-compose.yml has no {name} service"
    assert "apache/kafka" in services["kafka"]["image"]
    for name, (_package, spec) in app_services(compose()).items():
        assert "healthcheck" in spec, f"{name} has no healthcheck"
        assert "build" in spec or "image" in spec, name


def test_compose_mounts_the_prometheus_and_grafana_files() -> None:
    services = compose()["services"]
    prometheus = volume_sources(services["prometheus"])
    assert prometheus.get("/etc/prometheus") == "deploy/prometheus" or (
        prometheus.get("/etc/prometheus/prometheus.yml") == "deploy/prometheus/prometheus.yml"
        and prometheus.get("/etc/prometheus/rules.yml") == "deploy/prometheus/rules.yml"
    ), prometheus
    grafana = volume_sources(services["grafana"])
    assert grafana.get("/etc/grafana/provisioning") == "deploy/grafana/provisioning", grafana
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "branchcare.yml")
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert grafana.get(dashboards_path) == "deploy/grafana/dashboards", grafana


# ---------------------------------------------------------------------------------------- Grafana


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    panels = [*board["panels"], *(p for row in board["panels"] for p in row.get("panels", []))]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_parses_and_queries_only_existing_metrics(path: Path) -> None:
    board = json.loads(path.read_text(encoding="utf-8"))
    assert board["uid"] and board["title"].startswith("BranchCare")
    assert "read model" in board["description"], "say where per-branch detail lives"
    exprs = dashboard_exprs(board)
    assert exprs, "no queries"
    for expr in exprs:
        for name in PROMQL_METRIC.findall(expr):
            assert name in code_metrics() or name in records(), f"{path.name}: {name} does not exist"
        for label in UNBOUNDED_LABELS:
            assert not re.search(rf"\b{label}\b", expr), f"{path.name}: {label} in {expr}"
    datasource = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    uid = datasource["datasources"][0]["uid"]
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid, panel["title"]


def test_dashboards_cover_branch_operations_and_hq() -> None:
    names = {path.name for path in DASHBOARDS}
    assert {"branch-operations.json", "hq.json"} <= names


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every panel query (as a recording rule; Grafana's $__ variables filled in)."""
    exprs = [expr for path in DASHBOARDS for expr in dashboard_exprs(json.loads(path.read_text()))]
    doc = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": re.sub(r"\$__\w+", "5m", expr)}
                    for i, expr in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    run_promtool("check", "rules", str(path))


def test_install_tools_script_is_valid_shell() -> None:
    script = DEPLOY / "install-tools.sh"
    result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
