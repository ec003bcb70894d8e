"""Each platform's derived values, apart: the answers model (tokmesh_answers.Answers)
inherits these, so templates still read everything from the one model, as ``tm``.

Each class holds what one platform's files need and nothing else computes: names, paths,
ports and the values its supervisor takes.  They read the answers from the model they
are mixed into, and define no answers of their own.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from typing import Any

from tokmesh_rules import canonical_quantity, quantity_value

# tokmesh-go at the commit the trees are written for (tests/contract/tokmesh-go.yml): its
# generated protobuf code needs protoc, Debian bookworm's in the image (protoc-gen-go comes
# from the protobuf module its own go.mod pins).
TOKMESH_GO_COMMIT = "56d6f543b3babada65b2d3e4808e35416702e363"
# protoc 3.21.12, any Debian revision of it (point releases replace the old ones on the mirror).
PROTOC_DEBIAN_VERSION = "3.21.12-*"
# How long a Kubernetes replica coming back waits before it joins: tokmesh-go's Raft
# elects within about two election timeouts of 1 s once its leader has gone.
REJOIN_DELAY_SECONDS = 5
# How long a Kubernetes pod goes on serving after it is marked for deletion: endpoints leave
# every node's proxy and the load balancers a few seconds later, and tokmesh-go stops
# accepting at SIGTERM.
PRESTOP_DELAY_SECONDS = 5
# The Windows service's log (the glue's servicelog): rotated at start past this size, with
# this many older generations kept.
WINDOWS_LOG_MAX_MIB = 10
WINDOWS_LOG_GENERATIONS = 3
# Where the firewall rules apply: every profile, as New-NetFirewallRule's default did for the
# rules of earlier releases; -RemoteAddress (client_networks) narrows who may connect.
WINDOWS_FIREWALL_PROFILES = "Any"


class SystemdValues:
    """The unit and the Linux scripts."""

    @property
    def unit_name(self) -> str:
        return f"{self.service_name}.service"

    @property
    def systemd_runtime_directory(self) -> str:
        """RuntimeDirectory= takes a name below /run (/var/run links there)."""
        return re.sub(r"^/(var/)?run/", "", self.run_dir)

    @property
    def account_comment(self) -> str:
        """The comment of the account install-linux.sh creates: what --purge deletes (no ':',
        which useradd refuses in a comment)."""
        return f"{self.service_name} service account, created by tokmesh-deploy"

    @property
    def tls_dir_outside_config_dir(self) -> bool:
        return not self.tls_dir.startswith(self.config_dir + "/")

    @property
    def operation_lock_file(self) -> str:
        """Install, upgrade, backup, restore and uninstall hold it: one at a time per service."""
        return f"/run/lock/tokmesh-deploy-{self.service_name}.lock"

    @property
    def systemd_state_directory(self) -> str | None:
        """StateDirectory= applies where the data dir is below /var/lib."""
        if self.data_dir.startswith("/var/lib/"):
            return self.data_dir.removeprefix("/var/lib/")
        return None


class WindowsValues:
    """The PowerShell installer and its companions."""

    @property
    def windows_bin_dir(self) -> str:
        return f"{self.windows_install_dir}\\bin"

    @property
    def windows_server_exe(self) -> str:
        return f"{self.windows_bin_dir}\\{self.service_name}.exe"

    @property
    def windows_server_exe_previous(self) -> str:
        """Where an upgrade keeps the binary it replaced (its rollback)."""
        return f"{self.windows_server_exe}.previous"

    @property
    def windows_config_file(self) -> str:
        return f"{self.windows_data_dir}\\config.yaml"

    @property
    def windows_state_dir(self) -> str:
        return f"{self.windows_data_dir}\\data"

    @property
    def windows_cert_dir(self) -> str:
        return f"{self.windows_data_dir}\\certs"

    @property
    def windows_backup_dir(self) -> str:
        """Below the data root, so archives keep its access list."""
        return f"{self.windows_data_dir}\\backups"

    @property
    def windows_service_account(self) -> str:
        return f"NT SERVICE\\{self.service_name}"

    @property
    def windows_service_sid(self) -> str:
        """The SID of the virtual account NT SERVICE\\<name>, as Windows derives it:
        S-1-5-80 and the SHA-1 of the upper-case name in UTF-16LE, read as five
        little-endian 32-bit numbers.  ACLs name it, not the account: a SID needs
        no name lookup, so it holds on every display language and before the
        service exists."""
        digest = hashlib.sha1(self.service_name.upper().encode("utf-16-le")).digest()
        return "S-1-5-80-" + "-".join(str(n) for n in struct.unpack("<5I", digest))

    @property
    def windows_display_name(self) -> str:
        return f"TokMesh Server ({self.service_name})"

    @property
    def windows_server_exe_kept(self) -> str:
        """Where an upgrade keeps the earlier previous binary until the new one is ready."""
        return f"{self.windows_server_exe_previous}.keep"

    @property
    def windows_server_exe_swap(self) -> str:
        """Where a rollback parks the running binary while it swaps the two."""
        return f"{self.windows_server_exe}.swap"

    @property
    def windows_log_dir(self) -> str:
        """The service has no console: the glue writes the server's stdout and stderr here."""
        return f"{self.windows_data_dir}\\logs"

    @property
    def windows_log_file(self) -> str:
        return f"{self.windows_log_dir}\\{self.service_name}.log"

    @property
    def windows_log_max_mib(self) -> int:
        """The size at which the glue rotates the log at start, in MiB (the README's figure)."""
        return WINDOWS_LOG_MAX_MIB

    @property
    def windows_log_max_bytes(self) -> int:
        return self.windows_log_max_mib * 1024 * 1024

    @property
    def windows_log_generations(self) -> int:
        """Rotated logs kept beside the current one (<name>.log.1 the newest)."""
        return WINDOWS_LOG_GENERATIONS

    @property
    def windows_preshutdown_timeout_ms(self) -> int:
        """How long the SCM waits at system shutdown for the PreShutdown stop: the same
        stop grace as every other supervisor (the server's drain and the margin)."""
        return self.stop_grace_seconds * 1000

    @property
    def windows_recovery_actions(self) -> str:
        """sc.exe failure actions=: restart after each of the first three failures,
        waiting longer each time."""
        delay = self.restart_delay_seconds * 1000
        return f"restart/{delay}/restart/{delay * 2}/restart/{delay * 6}"

    @property
    def windows_firewall_group(self) -> str:
        """The group of every firewall rule the installer owns: re-synced and removed as one."""
        return f"tokmesh-deploy {self.service_name}"

    @property
    def windows_firewall_rules(self) -> list[dict[str, Any]]:
        """The inbound rules the installer makes: one per client listener of this tree."""
        return [{"name": f"{self.service_name}-{port['name']}", "port": port["port"],
                 "protocol": port["protocol"], "profiles": WINDOWS_FIREWALL_PROFILES,
                 "display_name": f"{self.windows_display_name} {port['name']}"}
                for port in self.client_ports]

    @property
    def windows_legacy_firewall_rules(self) -> list[str]:
        """Rule names earlier releases gave, without a group: removed at install."""
        return [f"{self.service_name}-{name}" for name in ("http", "redis")]

    @property
    def windows_legacy_firewall_rules_literal(self) -> str:
        """Those names as a PowerShell array literal."""
        return "@(" + ", ".join(f"'{name}'" for name in self.windows_legacy_firewall_rules) + ")"

    @property
    def windows_stop_wait_ms(self) -> int:
        """How long a script waits for the service's process to exit once Stop-Service has
        returned: the stop grace, as every supervisor allows."""
        return self.stop_grace_seconds * 1000


class ImageValues:
    """The Dockerfile and what builds tokmesh-go."""

    @property
    def image_reference(self) -> str:
        reference = f"{self.image_repository}:{self.image_tag}"
        return f"{reference}@{self.image_digest}" if self.image_digest else reference

    @property
    def go_module(self) -> str:
        """tokmesh-go's module path: the server glue imports its packages through it."""
        return "github.com/yndnr/tokmesh-go"

    def go_ldflags(self, version: str, commit: str, build_time: str) -> str:
        """The linker flags of a release build: stripped, and the version, commit and build
        time stamped into the variables tokmesh-go's main prints with -version."""
        return (f"-s -w -X main.version={version} -X main.commit={commit} "
                f"-X main.buildTime={build_time}")

    @property
    def tokmesh_go_commit(self) -> str:
        return TOKMESH_GO_COMMIT

    @property
    def protoc_debian_version(self) -> str:
        return PROTOC_DEBIAN_VERSION

    @property
    def oci_labels(self) -> dict[str, str]:
        return {
            "org.opencontainers.image.title": self.service_name,
            "org.opencontainers.image.description": "TokMesh session/token cache server",
            "org.opencontainers.image.version": self.image_tag,
            "org.opencontainers.image.vendor": "TokMesh",
        }


class KubernetesValues:
    """The manifests, the node-config init container and the Kubernetes scripts."""

    @property
    def cluster_enabled(self) -> bool:
        return self.replicas > 1

    @property
    def headless_service_name(self) -> str:
        """The StatefulSet's serviceName, giving each pod a stable DNS name."""
        return self.service_name

    @property
    def client_service_name(self) -> str:
        return f"{self.service_name}-external"

    @property
    def configmap_name(self) -> str:
        return f"{self.service_name}-config"

    @property
    def tls_secret_name(self) -> str:
        return f"{self.service_name}-tls"

    @property
    def last_ordinal(self) -> int:
        return self.replicas - 1

    @property
    def canary_ordinal(self) -> int:
        """A staged rollout's partition: the highest ordinal takes the new revision first."""
        return self.last_ordinal

    @property
    def canary_pod_name(self) -> str:
        return f"{self.service_name}-{self.canary_ordinal}"

    @property
    def prestop_delay_seconds(self) -> int:
        return PRESTOP_DELAY_SECONDS

    @property
    def k8s_termination_grace_seconds(self) -> int:
        """The preStop delay counts against the grace period: the server's own stop budget
        comes after it."""
        return self.prestop_delay_seconds + self.stop_grace_seconds

    @property
    def k8s_rollout_timeout_seconds(self) -> int:
        """A rollout replaces pods one by one: each may take the stop grace and the startup budget."""
        return (self.k8s_termination_grace_seconds + self.startup_budget_seconds) * self.replicas

    @property
    def k8s_container_name(self) -> str:
        return "tokmesh"

    @property
    def k8s_init_container_name(self) -> str:
        return "node-config"

    @property
    def k8s_image_containers(self) -> list[str]:
        """The containers that run the server's image: a rollout changes them together, or
        the pod template the tree renders afterwards differs from the one rolled out."""
        if self.cluster_enabled:
            return [self.k8s_init_container_name, self.k8s_container_name]
        return [self.k8s_container_name]

    @property
    def storage_size_canonical(self) -> str:
        """storage_size as a live StatefulSet shows it (10240Mi reads back as 10Gi)."""
        return canonical_quantity(self.storage_size)

    @property
    def data_claim_name(self) -> str:
        """The StatefulSet's volume claim template; pods' claims are <it>-<name>-<ordinal>."""
        return "data"

    @property
    def cluster_domain_suffix(self) -> str:
        """What follows a pod's name in its DNS name under the headless Service."""
        return f"{self.headless_service_name}.{self.k8s_namespace}.svc.{self.cluster_domain}"

    @property
    def topology_spread_keys(self) -> list[str]:
        """Replicas spread over nodes and zones (beside the anti-affinity's preference)."""
        return ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]

    @property
    def cert_manager(self) -> bool:
        return self.tls_enabled and bool(self.cert_manager_issuer)

    @property
    def certificate_dns_names(self) -> list[str]:
        """The client Service by each name a pod may use, and every pod of the headless one."""
        service, namespace = self.client_service_name, self.k8s_namespace
        return [
            service,
            f"{service}.{namespace}",
            f"{service}.{namespace}.svc",
            f"{service}.{namespace}.svc.{self.cluster_domain}",
            f"*.{self.cluster_domain_suffix}",
        ]

    @property
    def cluster_peer_hosts(self) -> list[str]:
        """Every replica's DNS name under the headless Service: the gossip seeds."""
        return [f"{self.service_name}-{ordinal}.{self.cluster_domain_suffix}" for ordinal in range(self.replicas)]

    @property
    def k8s_rejoin_delay_seconds(self) -> int:
        return REJOIN_DELAY_SECONDS

    @property
    def k8s_node_config_file(self) -> str:
        """The config each replica runs with: the ConfigMap's, plus its own cluster
        settings, written by the node-config init container into the run folder."""
        return f"{self.run_dir}/config.yaml"

    @property
    def k8s_server_config_file(self) -> str:
        return self.k8s_node_config_file if self.cluster_enabled else self.config_file

    @property
    def selector_labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": "tokmesh",
            "app.kubernetes.io/instance": self.service_name,
        }

    @property
    def common_labels(self) -> dict[str, str]:
        return {
            **self.selector_labels,
            "app.kubernetes.io/version": self.image_tag,
            "app.kubernetes.io/component": "cache-server",
            "app.kubernetes.io/part-of": "tokmesh",
            "app.kubernetes.io/managed-by": "copier",
        }

    @property
    def pod_template_labels(self) -> dict[str, str]:
        """The pod template's labels: the common ones but the version.  A label there is part
        of the revision, so recording the tag a canary already rolled out would roll every
        pod again (and leave the canary's revision as the one to undo to)."""
        return {key: value for key, value in self.common_labels.items()
                if key != "app.kubernetes.io/version"}

    @property
    def client_external_traffic_policy(self) -> str | None:
        """With client networks, a node-reaching client Service keeps the client's address
        (Local): under Cluster the NetworkPolicy would see the forwarding node's instead."""
        if self.client_networks and self.k8s_service_type in ("LoadBalancer", "NodePort"):
            return "Local"
        return None

    @property
    def k8s_tree_selector(self) -> str:
        """What every StatefulSet a tree of this template makes carries, whatever its name
        and namespace (k8s-ops.sh looks for a cache this tree would run beside)."""
        keys = ("app.kubernetes.io/part-of", "app.kubernetes.io/managed-by")
        return ",".join(f"{key}={self.common_labels[key]}" for key in keys)

    @property
    def statefulset_annotations(self) -> dict[str, str]:
        """checkov's digest check cannot pass before the operator knows the digest."""
        if self.image_digest:
            return {}
        return {
            "checkov.io/skip1": "CKV_K8S_43=no image digest is known at render time; "
            "answer image_digest to pin the image",
        }

    @property
    def tls_cert_name(self) -> str:
        return self.tls_cert_file.rsplit("/", 1)[1]

    @property
    def tls_key_name(self) -> str:
        return self.tls_key_file.rsplit("/", 1)[1]

    @property
    def memory_limit_bytes(self) -> int:
        """The memory limit as Compose's mem_limit takes it: whole bytes, rounded up."""
        return math.ceil(quantity_value(self.memory_limit))

    @property
    def pdb_max_unavailable(self) -> int:
        """A quorum of replicas stays up during voluntary disruptions."""
        return max(1, (self.replicas - 1) // 2)


class ComposeValues:
    """What scripts/compose-ops.sh names on the host: the project's volume, its tags, its lock."""

    @property
    def compose_rollback_image(self) -> str:
        """The tag compose-ops.sh gives the image that ran before an upgrade, by its ID: the
        rollback goes back to that image whatever the version tags name since.  Named by the
        Compose project: two trees on one host roll back each to its own."""
        return f"{self.image_repository}:{self.compose_project_name}-rollback"

    @property
    def compose_last_good_image(self) -> str:
        """The tag of the last image an upgrade saw settle (ready, then up without a restart)."""
        return f"{self.image_repository}:{self.compose_project_name}-last-good"

    @property
    def compose_volume_key(self) -> str:
        """The data volume's key in the Compose file, and the label Compose gives its volumes."""
        return f"{self.service_name}-data"

    @property
    def compose_data_volume(self) -> str:
        """The data volume as Compose names it by default (<project>_<volume key>): the one a
        tree from before restores-by-swap already has."""
        return f"{self.compose_project_name}_{self.compose_volume_key}"

    @property
    def compose_restored_volume_prefix(self) -> str:
        """compose-ops.sh restore extracts into a new volume named this plus the UTC time."""
        return f"{self.compose_data_volume}-restored-"

    @property
    def compose_ops_lock_file(self) -> str:
        """compose-ops.sh's lock, in the tree: one operation at a time per Compose deployment."""
        return "deployments/docker/.compose-ops.lock"
