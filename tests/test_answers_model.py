"""Values the answers model derives once for every template."""

from __future__ import annotations

from tokmesh_answers import validate_answers


def test_peers_name_every_replica_through_the_headless_service() -> None:
    answers = validate_answers({"replicas": 3, "k8s_namespace": "prod", "cluster_port": 7000})
    assert answers.cluster_enabled
    assert answers.cluster_peer_hosts == [
        f"tokmesh-server-{i}.tokmesh-server.prod.svc.cluster.local" for i in range(3)
    ]
    assert answers.k8s_server_config_file == f"{answers.run_dir}/config.yaml"


def test_one_replica_is_no_cluster_and_opens_no_peer_port() -> None:
    single = validate_answers({"replicas": 1})
    assert not single.cluster_enabled
    assert single.peer_ports == []
    assert single.k8s_server_config_file == single.config_file


def test_image_reference_carries_the_digest_when_given() -> None:
    digest = "sha256:" + "ab" * 32
    assert validate_answers({}).image_reference == "tokmesh/tokmesh-server:1.0.0"
    assert validate_answers({"image_digest": digest}).image_reference == f"tokmesh/tokmesh-server:1.0.0@{digest}"


def test_supervisors_wait_longer_than_the_server_drains() -> None:
    assert validate_answers({"shutdown_timeout_seconds": 60}).stop_grace_seconds == 65
    # tokmesh-go drains for 30 s whatever the answer: a shorter wait would cut it off.
    assert validate_answers({"shutdown_timeout_seconds": 20}).stop_grace_seconds == 35


def test_systemd_directories_are_named_relative_to_their_roots() -> None:
    default = validate_answers({})
    assert default.systemd_runtime_directory == "tokmesh-server"
    assert default.systemd_state_directory == "tokmesh-server"
    custom = validate_answers({"run_dir": "/var/run/tm", "data_dir": "/srv/tm"})
    assert custom.systemd_runtime_directory == "tm"
    assert custom.systemd_state_directory is None


def test_tls_is_served_on_the_one_http_port_and_redis_only_when_answered() -> None:
    ports = lambda answers: [(p["name"], p["port"], p["protocol"]) for p in answers.container_ports]  # noqa: E731
    assert ports(validate_answers({})) == [("http", 5080, "TCP"), ("raft", 5343, "TCP"),
                                           ("gossip", 5344, "TCP"), ("gossip-udp", 5344, "UDP")]
    tls = validate_answers({"tls_enabled": True, "redis_enabled": True})
    assert ports(tls)[:2] == [("http", 5080, "TCP"), ("redis", 6379, "TCP")]
    assert tls.http_scheme == "https" and tls.k8s_probe_scheme == "HTTPS"
    assert tls.healthcheck_command[-1] == "https://127.0.0.1:5080/health"


def test_each_platform_config_listens_where_its_clients_reach_it() -> None:
    answers = validate_answers({"listen_address": "10.1.2.3", "windows_data_dir": "D:\\tokmesh"})
    assert answers.linux_server_config.http_addr == "10.1.2.3:5080"
    assert answers.container_server_config.http_addr == "0.0.0.0:5080"
    assert answers.windows_server_config.data_dir == "D:\\tokmesh"
    assert answers.local_probe_authority == "10.1.2.3:5080"
    assert validate_answers({"listen_address": "::"}).local_probe_authority == "[::1]:5080"
    assert validate_answers({}).wal_dir == "/var/lib/tokmesh-server/data/wal"


def test_pod_disruption_budget_keeps_a_quorum() -> None:
    assert [validate_answers({"replicas": n}).pdb_max_unavailable for n in (1, 2, 3, 5, 7)] == [1, 1, 1, 2, 3]


def test_compose_memory_limit_is_in_bytes() -> None:
    assert validate_answers({"memory_limit": "1Gi", "memory_request": "1Gi"}).memory_limit_bytes == 2**30


def test_service_sid_is_the_one_windows_derives_from_the_service_name() -> None:
    # TrustedInstaller's virtual account SID, as every Windows install shows it: the
    # derivation (SHA-1 of the upper-case name) does not depend on the name's case.
    assert validate_answers({"service_name": "trustedinstaller"}).windows_service_sid == (
        "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464")
    assert validate_answers({}).windows_service_sid != validate_answers({"service_name": "cache-edge"}).windows_service_sid


def test_release_builds_stamp_the_variables_tokmesh_go_prints() -> None:
    assert validate_answers({}).go_ldflags("1.2.3", "abc", "now") == (
        "-s -w -X main.version=1.2.3 -X main.commit=abc -X main.buildTime=now")


def test_quantities_compare_exactly_as_kubernetes_reads_them() -> None:
    from tokmesh_answers import quantity_value

    assert quantity_value("1.5") > quantity_value("1200m")  # whole-number rounding made these equal
    assert quantity_value("0.5") == quantity_value("500m") == quantity_value(".5")
    assert quantity_value("1e3") == quantity_value("1k") == quantity_value("1E3")
    assert quantity_value("1Gi") == 2**30 and quantity_value("1G") == 10**9
    assert quantity_value("100u") * 10 == quantity_value("1m")


def test_names_need_only_fit_kubernetes_when_kubernetes_is_chosen() -> None:
    long_name = "t" * 60
    assert validate_answers({"platforms": ["linux", "docker"], "service_name": long_name}).service_name == long_name


def test_peers_and_certificate_names_follow_the_cluster_domain() -> None:
    answers = validate_answers({"cluster_domain": "k8s.corp.example", "tls_enabled": True,
                                "cert_manager_issuer": "internal-ca"})
    assert all(p.endswith(".tokmesh-server.tokmesh.svc.k8s.corp.example") for p in answers.cluster_peer_hosts)
    assert answers.cert_manager
    assert answers.certificate_dns_names[-1] == "*.tokmesh-server.tokmesh.svc.k8s.corp.example"


def test_storage_size_is_compared_as_the_api_server_writes_it_back() -> None:
    # What the API server answered for these on a StatefulSet (tests/test_kubernetes_cluster.py
    # applies one with 10240Mi and reads 10Gi back).
    for answer, live in [("10Gi", "10Gi"), ("10240Mi", "10Gi"), ("1536Mi", "1536Mi"), ("1.5Gi", "1536Mi"),
                         ("1000M", "1G"), ("1500M", "1500M"), ("1.5G", "1500M"), ("1024Ki", "1Mi")]:
        assert validate_answers({"storage_size": answer}).storage_size_canonical == live, answer


def test_the_pod_template_has_no_version_label_so_a_recorded_tag_rolls_nothing() -> None:
    answers = validate_answers({"image_tag": "2.0.0"})
    assert answers.common_labels["app.kubernetes.io/version"] == "2.0.0"
    assert "app.kubernetes.io/version" not in answers.pod_template_labels
    assert answers.pod_template_labels.items() <= answers.common_labels.items()


def test_a_rollout_changes_every_container_that_runs_the_image() -> None:
    assert validate_answers({"replicas": 3}).k8s_image_containers == ["node-config", "tokmesh"]
    assert validate_answers({"replicas": 1}).k8s_image_containers == ["tokmesh"]


def test_the_grace_period_covers_the_prestop_delay_and_the_servers_drain() -> None:
    answers = validate_answers({"shutdown_timeout_seconds": 20})
    assert answers.k8s_termination_grace_seconds == answers.prestop_delay_seconds + answers.stop_grace_seconds
    assert answers.stop_grace_seconds > answers.server_drain_seconds


def test_clients_keep_their_address_where_the_network_policy_admits_them_by_it() -> None:
    restricted = {"client_networks": ["10.0.0.0/8"]}
    assert validate_answers({**restricted, "k8s_service_type": "LoadBalancer"}).client_external_traffic_policy == "Local"
    assert validate_answers({**restricted, "k8s_service_type": "NodePort"}).client_external_traffic_policy == "Local"
    # ClusterIP has no external traffic; without client networks any address may come.
    assert validate_answers({**restricted, "k8s_service_type": "ClusterIP"}).client_external_traffic_policy is None
    assert validate_answers({"k8s_service_type": "LoadBalancer"}).client_external_traffic_policy is None


def test_windows_gives_the_same_stop_grace_at_a_reboot() -> None:
    for timeout in (30, 120):
        answers = validate_answers({"shutdown_timeout_seconds": timeout})
        assert answers.windows_preshutdown_timeout_ms == answers.stop_grace_seconds * 1000
        assert answers.windows_preshutdown_timeout_ms > answers.server_drain_seconds * 1000


def test_windows_firewall_rules_follow_the_listeners_in_one_group() -> None:
    plain = validate_answers({"service_name": "cache-edge", "http_port": 6080})
    assert [(r["name"], r["port"], r["protocol"]) for r in plain.windows_firewall_rules] == [("cache-edge-http", 6080, "TCP")]
    with_redis = validate_answers({"redis_enabled": True, "redis_port": 6379})
    assert [r["name"] for r in with_redis.windows_firewall_rules] == ["tokmesh-server-http", "tokmesh-server-redis"]
    assert plain.windows_firewall_group == "tokmesh-deploy cache-edge"
    # Every name an earlier release gave its rules is removed at install.
    assert {r["name"] for r in with_redis.windows_firewall_rules} <= set(with_redis.windows_legacy_firewall_rules)


def test_windows_log_is_below_the_data_root_and_the_rollback_files_beside_the_binary() -> None:
    answers = validate_answers({"windows_data_dir": "D:\\Data\\tokmesh", "service_name": "cache-edge"})
    assert answers.windows_log_file == "D:\\Data\\tokmesh\\logs\\cache-edge.log"
    assert answers.windows_log_max_bytes == answers.windows_log_max_mib * 1024 * 1024
    assert answers.windows_server_exe_kept == answers.windows_server_exe + ".previous.keep"
    assert answers.windows_server_exe_swap == answers.windows_server_exe + ".swap"
    assert answers.windows_recovery_actions == "restart/5000/restart/10000/restart/30000"
