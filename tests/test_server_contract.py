"""Every tree hands tokmesh-go only what it reads, and opens exactly the ports it listens on.

tests/contract/tokmesh-go.yml is the server's contract at the pinned commit, written from
its code.  These tests hold every scenario's rendered tree against it: the config files'
keys and types, the TOKMESH_* environment under the server's rule, and the ports each
platform opens against the listeners the config switches on.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SCENARIOS, scenario_answers


def scenarios_with(platform: str) -> list[str]:
    """The scenarios whose trees have ``platform``."""
    platforms = lambda name: scenario_answers(name).get("platforms", ["linux", "windows", "docker", "kubernetes"])  # noqa: E731
    return [name for name in SCENARIOS if platform in platforms(name)]


CONTRACT = yaml.safe_load((Path(__file__).parent / "contract" / "tokmesh-go.yml").read_text())
KEYS: dict[str, dict[str, Any]] = CONTRACT["config"]["keys"]
PYTHON_TYPES = {"string": str, "bool": bool, "int": int, "list[string]": list}


# ---- reading a tree the way the server would ------------------------------------------


def flatten(mapping: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every leaf, as koanf flattens the file."""
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, dotted + ".")
        else:
            yield dotted, value


def go_duration(text: str) -> timedelta:
    """Go's time.ParseDuration, for the units a config would use."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is no Go duration")
    return timedelta(seconds=sum(float(n) * units[u] for n, u in parts))


def type_problem(key: str, value: Any) -> str:
    """Why ``value`` would not decode into ``key``, or ''."""
    declared = KEYS[key]["type"]
    if declared == "duration":
        try:
            go_duration(value)
        except (TypeError, ValueError) as error:
            return f"{key}: {error}"
        return ""
    expected = PYTHON_TYPES[declared]
    if isinstance(value, bool) and expected is int or not isinstance(value, expected):
        return f"{key}: {value!r} is not {declared}"
    return ""


def config_problems(text: str) -> list[str]:
    """What in a config file the server would ignore or refuse."""
    problems = []
    for key, value in flatten(yaml.safe_load(text)):
        if key not in KEYS:
            problems.append(f"{key}: not a key tokmesh-go reads (it would ignore it)")
        elif not KEYS[key].get("used", True):
            problems.append(f"{key}: declared by tokmesh-go but never used")
        elif problem := type_problem(key, value):
            problems.append(problem)
    return problems


def env_key(name: str) -> str:
    """The config key an environment variable sets, by the server's rule."""
    transform = CONTRACT["environment"]
    assert name.startswith(transform["prefix"])
    return name.removeprefix(transform["prefix"]).lower().replace("_", ".")


def server_configs(tree: Path) -> dict[str, str]:
    """Every config file a tree hands the server, by where it goes."""
    configs = {str(p.relative_to(tree)): p.read_text() for p in sorted(tree.glob("configs/*/config.yaml"))}
    configmap = tree / "deployments/kubernetes/configmap.yaml"
    if configmap.exists():
        configs["ConfigMap"] = yaml.safe_load(configmap.read_text())["data"]["config.yaml"]
    return configs


def statefulset(tree: Path) -> dict[str, Any] | None:
    path = tree / "deployments/kubernetes/statefulset.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def node_config_section(sts: dict[str, Any]) -> dict[str, str]:
    """The cluster keys the node-config init container writes, with a sample value each."""
    init = {c["name"]: c for c in sts["spec"]["template"]["spec"].get("initContainers", [])}
    if "node-config" not in init:
        return {}
    script = init["node-config"]["args"][0]
    return dict(re.findall(r'echo "  (\w+): \\?"?([^"\\]*)', script))


def server_env(tree: Path) -> dict[str, list[str]]:
    """The environment variables each platform sets for the server process."""
    env: dict[str, list[str]] = {}
    dockerfile = tree / "Dockerfile"
    if dockerfile.exists():
        runtime = dockerfile.read_text().split("\nFROM ")[-1]
        env["Dockerfile"] = re.findall(r"^ENV (\w+)", runtime, re.M)
    compose = tree / "deployments/docker/docker-compose.yaml"
    if compose.exists():
        service = next(iter(yaml.safe_load(compose.read_text())["services"].values()))
        names = service.get("environment") or {}
        env["Compose"] = list(names) if isinstance(names, dict) else [n.split("=")[0] for n in names]
    if sts := statefulset(tree):
        pod = sts["spec"]["template"]["spec"]
        env["StatefulSet"] = [e["name"] for c in pod["containers"] for e in c.get("env", [])]
    for unit in tree.glob("deployments/linux/*.service"):
        env["systemd"] = re.findall(r"^Environment=\"?(\w+)=", unit.read_text(), re.M)
    install = tree / "scripts/install-windows.ps1"
    if install.exists():
        env["Windows"] = re.findall(r'"(TOKMESH_\w+)=', install.read_text())
    return env


# ---- what listens and what is opened -------------------------------------------------------


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def listeners(config_text: str, cluster: dict[str, str] | None = None) -> set[tuple[str, int, str]]:
    """(listener, port, protocol) the server opens with this config, as the contract says."""
    values = dict(flatten(yaml.safe_load(config_text)))
    opened = {("http", port_of(values["server.http.addr"]), "TCP")}
    if values.get("server.redis.enabled"):
        opened.add(("redis", port_of(values["server.redis.addr"]), "TCP"))
    if cluster and cluster.get("node_id"):
        opened.add(("raft", port_of(cluster["raft_addr"]), "TCP"))
        for protocol in CONTRACT["listeners"]["gossip"]["protocols"]:
            opened.add(("gossip", int(cluster["gossip_port"]), protocol.upper()))
    return opened


def ports(listened: set[tuple[str, int, str]], *names: str) -> set[tuple[int, str]]:
    return {(port, protocol) for name, port, protocol in listened if not names or name in names}


def kubernetes_openings(tree: Path) -> dict[str, set[tuple[int, str]]]:
    """What the manifests open, by object; named ports resolved through the container's."""
    sts = statefulset(tree)
    container = sts["spec"]["template"]["spec"]["containers"][0]
    named = {p["name"]: (p["containerPort"], p.get("protocol", "TCP")) for p in container["ports"]}
    opened = {"containerPorts": set(named.values())}
    for doc in yaml.safe_load_all((tree / "deployments/kubernetes/service.yaml").read_text()):
        opened[f"Service {doc['metadata']['name']}"] = {
            named[p["targetPort"]] if isinstance(p["targetPort"], str) else (p["targetPort"], p.get("protocol", "TCP"))
            for p in doc["spec"]["ports"]}
    policy = yaml.safe_load((tree / "deployments/kubernetes/networkpolicy.yaml").read_text())
    for index, rule in enumerate(policy["spec"]["ingress"]):
        opened[f"NetworkPolicy rule {index}"] = {
            (named[p["port"]][0], p["protocol"]) if isinstance(p["port"], str) else (p["port"], p["protocol"])
            for p in rule["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        port = container[probe]["httpGet"]["port"]
        opened[probe] = {named[port] if isinstance(port, str) else (port, "TCP")}
    return opened


# ---- the tests ------------------------------------------------------------------------------


def test_the_contract_names_the_pinned_commit_and_gives_every_key_a_type_and_a_source() -> None:
    from tokmesh_platforms import TOKMESH_GO_COMMIT

    assert CONTRACT["source"]["commit"] == TOKMESH_GO_COMMIT
    for key, spec in KEYS.items():
        assert spec["type"] in {*PYTHON_TYPES, "duration"}, key
        assert re.fullmatch(r"[\w/.-]+\.go:\d+(-\d+)?", spec["ref"]), key


def test_every_key_of_every_rendered_config_is_one_the_server_reads_with_its_type(tree: Path) -> None:
    configs = server_configs(tree)
    assert configs, "the tree hands the server no config"
    for where, text in configs.items():
        assert config_problems(text) == [], where
    if (sts := statefulset(tree)) and (section := node_config_section(sts)):
        for key in section:
            assert f"cluster.{key}" in KEYS, f"node-config writes cluster.{key}, which tokmesh-go does not read"
        assert {f"cluster.{k}" for k in section} >= set(CONTRACT["cluster"]["per_node_keys"])


def test_a_key_the_server_does_not_read_is_found(tree: Path) -> None:
    """The check above is not vacuous: the specification's keys, as older trees wrote them."""
    assert config_problems("server:\n  http:\n    address: 0.0.0.0:5080\n") == [
        "server.http.address: not a key tokmesh-go reads (it would ignore it)"]
    assert config_problems("storage:\n  snapshot_keep: three\n") == ["storage.snapshot_keep: 'three' is not int"]


def test_every_tokmesh_variable_a_tree_sets_reaches_a_key_the_server_reads(tree: Path) -> None:
    settable = set(CONTRACT["environment"]["settable_keys"])
    for where, names in server_env(tree).items():
        for name in names:
            if name.startswith("TOKMESH_"):
                assert env_key(name) in settable, f"{where} sets {name}, which sets {env_key(name)}: nothing"


def test_the_environment_rule_cannot_reach_a_key_with_an_underscore() -> None:
    """What the StatefulSet of earlier trees set: every one of them was lost."""
    settable = set(CONTRACT["environment"]["settable_keys"])
    assert env_key("TOKMESH_SERVER_HTTP_ADDR") in settable
    for name in ("TOKMESH_CLUSTER_NODE_ID", "TOKMESH_STORAGE_DATA_DIR", "TOKMESH_SERVER_HTTP_TLS_CERT_FILE"):
        assert env_key(name) not in settable, name


def test_containers_listen_on_every_interface_and_hosts_on_the_answer(tree: Path, scenario: str) -> None:
    from tokmesh_answers import validate_answers

    answers = validate_answers(scenario_answers(scenario))
    for where, text in server_configs(tree).items():
        address = dict(flatten(yaml.safe_load(text)))["server.http.addr"]
        host = "0.0.0.0" if where in {"configs/container/config.yaml", "ConfigMap"} else answers.listen_address
        assert address.rsplit(":", 1)[0].strip("[]") == host, where


@pytest.mark.parametrize("scenario", scenarios_with("kubernetes"))
def test_kubernetes_opens_exactly_the_ports_each_replica_listens_on(render_scenario, scenario: str) -> None:
    tree = render_scenario(scenario)
    sts = statefulset(tree)
    config = yaml.safe_load((tree / "deployments/kubernetes/configmap.yaml").read_text())["data"]["config.yaml"]
    listened = listeners(config, node_config_section(sts))
    opened = kubernetes_openings(tree)
    for where, found in opened.items():
        assert found <= ports(listened), f"{where} opens {found - ports(listened)}, where nothing listens"
    assert opened["containerPorts"] == ports(listened)
    client = ports(listened, "http", "redis")
    peer = ports(listened, "raft", "gossip")
    service = next(name for name in opened if name.startswith("Service") and name.endswith("-external"))
    assert opened[service] == client
    assert client in [found for name, found in opened.items() if name.startswith("NetworkPolicy")]
    if peer:
        assert peer in [found for name, found in opened.items() if name.startswith("NetworkPolicy")]
        headless = [found for name, found in opened.items() if name.startswith("Service") and name != service]
        assert peer <= set().union(*headless)


@pytest.mark.parametrize("scenario", scenarios_with("docker"))
def test_compose_and_the_image_publish_the_client_ports_the_server_listens_on(render_scenario, scenario: str) -> None:
    tree = render_scenario(scenario)
    compose = tree / "deployments/docker/docker-compose.yaml"
    listened = listeners((tree / "configs/container/config.yaml").read_text())
    service = next(iter(yaml.safe_load(compose.read_text())["services"].values()))
    published = {(int(binding.rsplit(":", 1)[1]), "TCP") for binding in service["ports"]}
    assert published == ports(listened)
    exposed = {(int(p), "TCP") for p in re.findall(r"^EXPOSE (.*)$", (tree / "Dockerfile").read_text(), re.M)[0].split()}
    assert exposed == ports(listened)
    health = re.search(r":(\d+)/", " ".join(service["healthcheck"]["test"]))
    assert (int(health.group(1)), "TCP") in ports(listened, "http")


@pytest.mark.parametrize("scenario", scenarios_with("windows"))
def test_the_windows_firewall_opens_the_client_ports_the_service_listens_on(render_scenario, scenario: str) -> None:
    tree = render_scenario(scenario)
    install = tree / "scripts/install-windows.ps1"
    listened = listeners((tree / "configs/windows/config.yaml").read_text())
    opened = {(int(port), protocol) for protocol, port in
              re.findall(r"-Protocol (\w+) -LocalPort (\d+)", install.read_text())}
    assert opened == ports(listened)


def test_tls_is_served_on_the_one_http_listener(render) -> None:
    tree = render(scenario_answers("tls"))
    for where, text in server_configs(tree).items():
        values = dict(flatten(yaml.safe_load(text)))
        for key in CONTRACT["listeners"]["http"]["tls"]["when_all_set"]:
            assert values.get(key), f"{where}: {key} unset, so the server would serve plain HTTP"
    sts = statefulset(tree)
    probes = [c[p]["httpGet"] for c in sts["spec"]["template"]["spec"]["containers"]
              for p in ("startupProbe", "livenessProbe", "readinessProbe")]
    assert {probe["scheme"] for probe in probes} == {"HTTPS"}


# ---- the stand-in keeps the contract ---------------------------------------------------------
# The runtime tests run tests/standin, not tokmesh-go: it must answer as the contract says.


@pytest.fixture(scope="module")
def standin(render, tmp_path_factory) -> Path:
    import shutil

    from conftest import require
    from runtime.fixtures_cache import build_standin

    require(shutil.which("go") is not None and shutil.which("protoc") is not None, "Go and protoc are needed")
    return build_standin(tmp_path_factory.mktemp("standin") / "tokmesh-server", render({"platforms": ["linux"]}),
                         version="9.9.9")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(standin: Path, config: dict, tmp_path: Path, **env: str):
    import os
    import subprocess

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOKMESH_")}
    # Signals as a supervisor starts the server: a runner under nohup would hand down SIGHUP
    # ignored, and Go keeps an ignored SIGHUP ignored.
    return subprocess.Popen([str(standin), "--config", str(path)], env={**environment, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))


def _every_key(data_dir: Path, port: int) -> dict:
    """A config that sets every key the contract lists, cluster mode off (node_id empty)."""
    samples = {"string": "", "bool": False, "int": 0, "duration": "100ms", "list[string]": []}
    values = {key: spec["default"] if spec.get("default") is not None else samples[spec["type"]]
              for key, spec in KEYS.items()}
    values.update({"server.http.addr": f"127.0.0.1:{port}", "storage.data_dir": str(data_dir),
                   "cluster.node_id": ""})
    config: dict = {}
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return config


def _wait_for(port: int, path: str, process) -> dict:
    import json
    import time
    import urllib.request

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as response:
                return {"status": response.status, **json.loads(response.read())}
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{path} did not answer")


@pytest.mark.integration
def test_the_stand_in_prints_its_version_and_refuses_a_bad_flag_as_the_contract_says(standin: Path) -> None:
    import subprocess

    version = subprocess.run([str(standin), "-version"], capture_output=True, text=True)
    assert (version.returncode, version.stdout.strip()) == (0, "tokmesh-server 9.9.9 (commit: standin, built: test)")
    assert "tokmesh-server <version> (commit: <commit>, built: <buildTime>)" in CONTRACT["flags"]["version"]["meaning"]
    assert subprocess.run([str(standin), "-listen", "x"], capture_output=True).returncode == 2
    assert "unknown flag" in CONTRACT["exit_codes"][2]["meaning"]


@pytest.mark.integration
def test_the_stand_in_reads_every_contract_key_and_answers_health_with_the_envelope(standin: Path, tmp_path: Path) -> None:
    import signal

    port = _free_port()
    process = _start(standin, _every_key(tmp_path / "data", port), tmp_path)
    try:
        for route in CONTRACT["endpoints"]["routes"][:2]:  # /health and /ready
            answer = _wait_for(port, route["path"], process)
            assert answer["status"] == route["status"]
            assert set(answer) - {"status"} == set(CONTRACT["endpoints"]["envelope"]["fields"])
            assert answer["data"]["status"] == route["body"]["data"]["status"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
    wal = CONTRACT["storage"]["wal"]["path"].replace("<storage.data_dir>", str(tmp_path / "data"))
    assert (Path(wal).parent / "wal-00000001.log").is_file()


@pytest.mark.integration
def test_the_stand_in_takes_the_environment_by_the_servers_rule_and_dies_of_sighup(standin: Path, tmp_path: Path) -> None:
    port = _free_port()
    config = {"storage": {"data_dir": str(tmp_path / "data")}}
    process = _start(standin, config, tmp_path, TOKMESH_SERVER_HTTP_ADDR=f"127.0.0.1:{port}")
    try:
        _wait_for(port, "/health", process)
        process.send_signal(signal.SIGHUP)
        assert process.wait(timeout=10) == -signal.SIGHUP  # no handler: the signal ends it
        assert "terminates the process by signal" in CONTRACT["signals"]["SIGHUP"]
    finally:
        process.kill()


@pytest.mark.integration
@pytest.mark.parametrize(("rule", "cluster"), [
    ("raft-addr-not-0.0.0.0", {"raft_addr": "0.0.0.0:{raft}"}),
    ("bootstrap-and-seeds-exclusive", {"raft_addr": "127.0.0.1:{raft}", "seeds": ["127.0.0.1:1"]}),
])
def test_the_stand_in_refuses_what_the_server_refuses(standin: Path, tmp_path: Path, rule: str, cluster: dict) -> None:
    assert rule in {r["id"] for r in CONTRACT["cluster"]["rules"]}
    raft, gossip = _free_port(), _free_port()
    settings = {"node_id": "n1", "gossip_addr": "127.0.0.1", "gossip_port": gossip, "bootstrap": True,
                "data_dir": str(tmp_path / "raft"),
                **{k: (v.format(raft=raft) if isinstance(v, str) else v) for k, v in cluster.items()}}
    config = {"server": {"http": {"addr": f"127.0.0.1:{_free_port()}"}},
              "storage": {"data_dir": str(tmp_path / "data")}, "cluster": settings}
    process = _start(standin, config, tmp_path)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 1 and stderr.splitlines()[-1].startswith("error: "), stderr


@pytest.mark.integration
def test_the_stand_in_is_stricter_than_the_server_about_unknown_keys(standin: Path, tmp_path: Path) -> None:
    """The server would ignore the specification's key and listen on 127.0.0.1:5080; the
    double refuses it, so a tree that drifts from the contract fails at start."""
    config = {"server": {"http": {"address": "0.0.0.0:5080"}}, "storage": {"data_dir": str(tmp_path / "data")}}
    process = _start(standin, config, tmp_path)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 1 and 'unknown key "server.http.address"' in stderr
    assert "server.http.address" in {entry["key"] for entry in CONTRACT["config"]["not_read"]}
