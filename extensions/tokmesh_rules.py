"""The rules each answer must meet, as types the answers model declares its fields with.

Each rule is strict enough that no answer can carry shell, PowerShell, YAML or
unit-file syntax into the rendered tree, and says in its message what it wants.
Quantities and image references are read as Kubernetes and the OCI distribution
spec read them.  The answers model (tokmesh_answers.py) is the entry point.
"""

from __future__ import annotations

import ipaddress
import re
from fractions import Fraction
from typing import Annotated

from pydantic import AfterValidator, Strict, TypeAdapter


def _rule(pattern: str, description: str, max_length: int = 200) -> AfterValidator:
    """A string rule: ``pattern`` must match the whole value."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if len(value) > max_length:
            raise ValueError(f"is too long: at most {max_length} characters")
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {description}")
        return value

    check.__doc__ = f"{description}, at most {max_length} characters"  # the rule, as the docs show it
    return AfterValidator(check)


def _posix_path(value: str) -> str:
    """The rule: an absolute POSIX path of letters, digits, '.', '_' and '-' segments, without '.' or '..'."""
    if len(value) > 200:
        raise ValueError("is too long: at most 200 characters")
    if not re.fullmatch(r"(/[A-Za-z0-9._-]+)+", value):
        raise ValueError(
            "must be an absolute POSIX path: '/'-separated segments of letters, "
            "digits, '.', '_' and '-' (no trailing '/', spaces or quotes)"
        )
    if any(segment in {".", ".."} for segment in value.split("/")):
        raise ValueError("must not have . or .. segments")
    return value


def _windows_path(value: str) -> str:
    """The rule: an absolute Windows path such as C:\\Program Files\\TokMesh (no quotes, '$' or '`')."""
    if len(value) > 200:
        raise ValueError("is too long: at most 200 characters")
    if not re.fullmatch(r"[A-Za-z]:(\\[A-Za-z0-9._() -]+)+", value):
        raise ValueError(
            "must be a full Windows path: such as C:\\Program Files\\TokMesh, a drive "
            "letter, then '\\'-separated folders of letters, digits, spaces, '.', '_', '-', "
            "'(' and ')' (no trailing '\\', quotes, '$' or '`')"
        )
    segments = value.split("\\")[1:]
    if any(s.strip(" .") == "" or s != s.strip() or s.endswith(".") for s in segments):
        raise ValueError("must not have . or .. folders, or folders ending in a space or '.'")
    return value


def _unprivileged_port(value: int) -> int:
    """The rule: from 1024 to 65535: the server runs without privileges and cannot bind a lower port."""
    if not 1024 <= value <= 65535:
        raise ValueError(
            "must be between 1024 and 65535: the server runs without privileges "
            "(no CAP_NET_BIND_SERVICE under systemd, non-root in containers) and "
            "cannot bind a lower port"
        )
    return value


# Whole numbers only: copier.yml asks them as YAML, which also reads 5080.0, yes or "5080".
WholeNumber = Annotated[int, Strict()]
Port = Annotated[WholeNumber, AfterValidator(_unprivileged_port)]
# Words a YAML 1.1 reader (kubectl, kustomize, docker-compose) takes for booleans or null.
YAML_KEYWORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _not_yaml_keyword(value: str) -> str:
    """The rule: not a YAML keyword (y, n, yes, no, on, off, true, false, null)."""
    if value in YAML_KEYWORDS:
        raise ValueError(
            "must not be a YAML keyword (y, n, yes, no, on, off, true, false, null): "
            "Kubernetes and Compose tools would read it as a boolean or null"
        )
    return value


# DNS-1035 (a letter first), as Kubernetes Services require.  What the names derived
# from it may hold (pod ordinals, the controller's revision-hash label, Service
# suffixes) is a rule of its own, with the Kubernetes platform (tokmesh_answers.kubernetes_problems).
DnsLabel = Annotated[
    str,
    _rule(
        r"[a-z]([a-z0-9-]*[a-z0-9])?",
        "a DNS label: lowercase letters, digits and '-', starting with a letter and "
        "ending with a letter or digit",
        max_length=63,
    ),
    AfterValidator(_not_yaml_keyword),
]


# Compose's own rule for a project name (lowercase, so Compose v1 does not rewrite it): it
# prefixes the containers, the network and the data volume of the tree on its host.
ComposeProjectName = Annotated[
    str,
    _rule(
        r"[a-z0-9][a-z0-9_-]*",
        "a project name: lowercase letters, digits, '_' and '-', starting with a letter or digit (Compose's rule)",
        max_length=63,
    ),
    AfterValidator(_not_yaml_keyword),
]


def _labels_fit(value: str) -> str:
    """The rule: no dot-separated label longer than 63 characters."""
    if any(len(label) > 63 for label in value.split(".")):
        raise ValueError("has a label too long: at most 63 characters between dots")
    return value


# A DNS subdomain (RFC 1123): dot-separated labels (cluster domains, issuer names).
DnsSubdomain = Annotated[
    str,
    _rule(
        r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*",
        "a DNS subdomain: dot-separated labels of lowercase letters, digits and '-'",
        max_length=253,
    ),
    AfterValidator(_labels_fit),
    AfterValidator(_not_yaml_keyword),
]
PosixPath = Annotated[str, AfterValidator(_posix_path)]
WindowsPath = Annotated[str, AfterValidator(_windows_path)]
Account = Annotated[
    str,
    _rule(
        r"[a-z_][a-z0-9_-]*",
        "a POSIX account name: lowercase letters, digits, '_' and '-', "
        "starting with a letter or '_'",
        max_length=32,
    ),
]


# ---- answers that must name something of the service's own ---------------------------
# The installers create, chown and chmod the folders answered, and --purge deletes them;
# the service runs as the account answered, and --purge deletes it.  A shared system
# folder or account would be taken over, then destroyed.  The installers also refuse, on
# the host, a folder or account they did not create (their markers); these rules stop the
# well-known ones before anything is rendered.

# Accounts and groups a Debian or RHEL host (or a common package) already has.
SYSTEM_ACCOUNTS = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
    "www-data", "backup", "list", "irc", "gnats", "nobody", "nogroup", "adm", "wheel", "sudo",
    "staff", "users", "shadow", "disk", "tty", "kmem", "dialout", "operator", "ftp", "halt",
    "shutdown", "utmp", "video", "audio", "input", "kvm", "render", "docker", "systemd-journal",
    "systemd-network", "systemd-resolve", "systemd-timesync", "systemd-coredump", "messagebus",
    "dbus", "polkitd", "sshd", "_apt", "tss", "chrony", "postfix", "nginx", "apache", "mysql",
    "postgres", "redis",
})


def _own_account(value: str) -> str:
    """The rule: an account of the service's own, never root or a system account (daemon, nobody, www-data, ...)."""
    if value in SYSTEM_ACCOUNTS:
        raise ValueError(f"must be an account of its own, not the system account {value!r} "
                         "(uninstall --purge deletes it)")
    return value


ServiceAccount = Annotated[Account, AfterValidator(_own_account)]

# Linux folders the host and its packages own.  A dedicated folder is none of them, no
# parent of one, and nothing below the trees the system alone writes.
LINUX_SYSTEM_FOLDERS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media",
    "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/tmp", "/usr", "/var",
    "/etc/default", "/etc/opt", "/etc/pki", "/etc/security", "/etc/ssh", "/etc/ssl", "/etc/ssl/certs",
    "/etc/ssl/private", "/etc/sysconfig", "/etc/systemd", "/etc/systemd/system",
    "/usr/bin", "/usr/include", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/sbin", "/usr/share",
    "/usr/src", "/usr/local", "/usr/local/bin", "/usr/local/etc", "/usr/local/include",
    "/usr/local/lib", "/usr/local/sbin", "/usr/local/share", "/usr/local/src",
    "/var/backups", "/var/cache", "/var/lib", "/var/local", "/var/lock", "/var/log", "/var/mail",
    "/var/opt", "/var/run", "/var/spool", "/var/tmp", "/var/www",
    "/var/lib/containers", "/var/lib/docker", "/var/lib/kubelet", "/var/lib/mysql",
    "/var/lib/postgresql", "/var/lib/private",
    "/run/dbus", "/run/lock", "/run/log", "/run/mount", "/run/sshd", "/run/udev", "/var/run/lock",
})
LINUX_SYSTEM_TREES = ("/bin", "/boot", "/dev", "/lib", "/lib64", "/proc", "/sbin", "/sys", "/usr/bin",
                      "/usr/lib", "/usr/sbin", "/usr/share", "/etc/systemd", "/run/systemd", "/run/user",
                      "/var/run/systemd", "/var/lib/apt", "/var/lib/dpkg", "/var/lib/rpm", "/var/lib/dnf",
                      "/var/lib/systemd", "/var/log/journal")
# Where a binary may go without a folder of its own: the installer adds its files and
# never changes the folder (uninstall removes those files only).
LINUX_BINARY_FOLDERS = frozenset({"/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/usr/sbin"})


def linux_system_folder(path: str) -> str:
    """The system folder ``path`` is, holds or lies in, or ''."""
    if path in LINUX_SYSTEM_FOLDERS:
        return path
    tree = next((t for t in LINUX_SYSTEM_TREES if path == t or path.startswith(t + "/")), "")
    return tree or next((f for f in sorted(LINUX_SYSTEM_FOLDERS) if f.startswith(path + "/")), "")


def _dedicated_posix_folder(value: str) -> str:
    """The rule: a folder of the service's own, not a system folder such as /etc, /var/lib or /usr, nor one below /usr/lib or /etc/systemd."""
    system = linux_system_folder(value)
    if system == value:
        raise ValueError("must be a folder of its own, not a system folder "
                         "(install takes it over, --purge deletes it)")
    if system:
        raise ValueError(f"must be a folder of its own, not in or above the system folder {system}")
    return value


def _binary_folder(value: str) -> str:
    """The rule: /usr/local/bin, /usr/bin (or their sbin), or a folder of its own."""
    if value not in LINUX_BINARY_FOLDERS:
        _dedicated_posix_folder(value)
    return value


DedicatedPosixFolder = Annotated[PosixPath, AfterValidator(_dedicated_posix_folder)]
BinaryFolder = Annotated[PosixPath, AfterValidator(_binary_folder)]

# Windows folders the system owns, without the drive (any drive), in lower case.
WINDOWS_SYSTEM_FOLDERS = frozenset({
    "\\windows", "\\programdata", "\\program files", "\\program files (x86)", "\\users",
    "\\users\\public", "\\users\\default", "\\perflogs", "\\recovery", "\\boot",
    "\\system volume information", "\\documents and settings", "\\intel", "\\inetpub",
    "\\program files\\common files", "\\program files (x86)\\common files",
    "\\programdata\\microsoft", "\\programdata\\packages",
})
WINDOWS_SYSTEM_TREES = ("\\windows", "\\programdata\\microsoft", "\\program files\\windowsapps",
                        "\\system volume information", "\\recovery", "\\$recycle.bin")


def windows_system_folder(path: str) -> str:
    """The system folder ``path`` (an absolute Windows path) is, holds or lies in, or ''."""
    drive, rest = path[:2], path[2:].lower()
    if rest in WINDOWS_SYSTEM_FOLDERS:
        return path
    tree = next((t for t in WINDOWS_SYSTEM_TREES if rest == t or rest.startswith(t + "\\")), "")
    if not tree and re.fullmatch(r"\\users\\[^\\]+", rest):
        tree = rest  # a user's profile: someone else's folder
    if tree:
        return path[:2 + len(tree)]  # as the operator wrote it
    below = next((f for f in sorted(WINDOWS_SYSTEM_FOLDERS) if f.startswith(rest + "\\")), "")
    return drive + below if below else ""


def _dedicated_windows_folder(value: str) -> str:
    """The rule: a folder of the service's own, not a system folder such as C:\\Windows, C:\\ProgramData or C:\\Users, nor one in C:\\Windows."""
    system = windows_system_folder(value)
    if system.lower() == value.lower():
        raise ValueError("must be a folder of its own, not a system folder "
                         "(install replaces its access list, -Purge deletes it)")
    if system:
        raise ValueError(f"must be a folder of its own, not in or above the system folder {system}")
    return value


DedicatedWindowsFolder = Annotated[WindowsPath, AfterValidator(_dedicated_windows_folder)]


def _quantity(value: str) -> str:
    """The rule: a Kubernetes quantity above zero (100m, 1.5, 512Mi, 10Gi)."""
    if len(value) > 20:
        raise ValueError("is too long: at most 20 characters")
    try:
        amount = quantity_value(value)
    except ValueError:
        raise ValueError(
            "must be a Kubernetes quantity: such as 10Gi, 512Mi, 500m, 1.5 or 1e3 (a number, "
            "then one of the suffixes n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or an exponent)"
        ) from None
    if amount <= 0:
        raise ValueError("must be above zero: the API server reads a zero size or limit as none")
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]

_BYTE_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)")


def _byte_size(value: str) -> str:
    """The rule: a size in bytes with its unit, such as 512Mi, 2Gi, 500M or 1G (Ki Mi Gi Ti Pi Ei, k M G T P E)."""
    if len(value) > 20:
        raise ValueError("is too long: at most 20 characters")
    if re.fullmatch(r"[0-9.]+m", value):
        raise ValueError("must use Mi or M: m is milli (a thousandth of a byte to Kubernetes, "
                         "megabytes to Docker)")
    if not _BYTE_SIZE.fullmatch(value):
        raise ValueError("must be a size with a byte unit, such as 512Mi, 2Gi, 500M or 1G")
    if quantity_value(value) <= 0:
        raise ValueError("must be above zero: the API server reads a zero size or limit as none")
    return value


ByteSize = Annotated[str, AfterValidator(_byte_size)]

# The OCI distribution spec: the first path component names a registry only when it
# holds a '.' or a ':' or is localhost; path components are lowercase.
_REGISTRY = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"


def image_repository_problem(value: str) -> str:
    """Why ``value`` is no repository name as the distribution spec reads it, or ''."""
    if len(value) > 255:
        return "is too long: at most 255 characters"
    first, _, rest = value.partition("/")
    is_registry = bool(rest) and ("." in first or ":" in first or first == "localhost")
    if is_registry and not re.fullmatch(_REGISTRY, first):
        return f"must start with a registry host: {first!r} is none (a host name, then an optional :port)"
    components = (rest if is_registry else value).split("/")
    bad = next((c for c in components if not re.fullmatch(_PATH_COMPONENT, c)), None)
    if bad is None:
        return ""
    registry_hint = (
        " (a first component names a registry only with a '.', a ':' or as localhost)"
        if rest and not is_registry and bad == components[0] else ""
    )
    return (
        "must be an image repository: such as tokmesh/tokmesh-server or "
        f"registry.example.com:5000/team/tokmesh-server: {bad!r} is no lowercase path "
        f"component{registry_hint}"
    )


def _image_repository(value: str) -> str:
    """The rule: an OCI image repository such as tokmesh/tokmesh-server or registry.example.com/team/tokmesh."""
    problem = image_repository_problem(value)
    if problem:
        raise ValueError(problem)
    return value


ImageRepository = Annotated[str, AfterValidator(_image_repository)]


def _image_reference(value: str) -> str:
    """The rule: an OCI image reference such as alpine:3.20, optionally pinned by @sha256:<digest>."""
    name, at, digest = value.partition("@")
    if at and not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
        raise ValueError("must end in a sha256 digest, if any: @sha256: and 64 lowercase hex digits")
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = name, ""
    elif not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", tag):
        raise ValueError(f"must be an image reference: such as alpine:3.20, but {tag!r} is no tag")
    problem = image_repository_problem(repository)
    if problem:
        raise ValueError(problem.replace("an image repository: such as tokmesh/tokmesh-server or "
                                         "registry.example.com:5000/team/tokmesh-server",
                                         "an image reference: such as alpine:3.20 or golang:1.24-bookworm"))
    return value


def _pinned_tag(value: str) -> str:
    """The rule: a pinned version, never latest."""
    if value == "latest":
        raise ValueError("must be a pinned version: 'latest' changes under a running deployment")
    return value


ImageTag = Annotated[
    str,
    _rule(
        r"[A-Za-z0-9_][A-Za-z0-9._-]*",
        "an OCI tag: letters, digits, '_', '.' and '-', not starting with '.' or '-'",
        max_length=128,
    ),
    AfterValidator(_pinned_tag),
]
ImageDigest = Annotated[
    str,
    _rule(r"(sha256:[a-f0-9]{64})?", "empty or sha256: followed by 64 lowercase hex digits", 71),
]
ImageReference = Annotated[str, AfterValidator(_image_reference)]

# tokmesh-go's go.mod says go 1.24.0; the Dockerfile installs protoc with apt-get.
GO_MINIMUM = (1, 24)
_GOLANG_IMAGES = {"golang", "library/golang", "docker.io/library/golang", "docker.io/golang"}


def _go_builder(value: str) -> str:
    """The rule: for the official golang images, Go 1.24 or newer on Debian (tokmesh-go's go.mod, and apt-get for protoc)."""
    repository, _, tag = value.partition("@")[0].rpartition(":")
    if repository not in _GOLANG_IMAGES:
        return value  # another builder: the operator vouches for its Go and apt-get
    version = re.match(r"(\d+)\.(\d+)", tag)
    if version and tuple(int(n) for n in version.groups()) < GO_MINIMUM:
        raise ValueError(f"has Go {version.group(0)}: tokmesh-go needs Go {GO_MINIMUM[0]}.{GO_MINIMUM[1]} or newer "
                         "(its go.mod), e.g. golang:1.24-bookworm")
    if "alpine" in tag:
        raise ValueError("is Alpine-based: the Dockerfile installs protoc with apt-get; use a Debian-based tag "
                         "such as golang:1.24-bookworm")
    return value


BuilderImage = Annotated[str, AfterValidator(_image_reference), AfterValidator(_go_builder)]
StorageClass = Annotated[
    str,
    _rule(
        r"([a-z0-9]([a-z0-9.-]*[a-z0-9])?)?",
        "a storage class or empty (the cluster's default): lowercase letters, "
        "digits, '.' and '-'",
        max_length=63,
    ),
    AfterValidator(_not_yaml_keyword),
]


def _empty_or_dns_subdomain(value: str) -> str:
    """The rule: empty, or a DNS subdomain."""
    if value:
        TypeAdapter(DnsSubdomain).validate_python(value)
    return value


OptionalDnsSubdomain = Annotated[str, AfterValidator(_empty_or_dns_subdomain)]


def _client_networks(value: list[str]) -> list[str]:
    """The rule: IPv4 or IPv6 networks in CIDR notation (10.0.0.0/8, 2001:db8::/32), no host bits set, no network twice; a network that is everything (0.0.0.0/0, ::/0) only alone."""
    if len(value) > 64:
        raise ValueError("must list at most 64 networks")
    networks = []
    for entry in value:
        if not isinstance(entry, str) or "/" not in entry:
            raise ValueError(f"must be CIDR networks: such as 10.0.0.0/8, but {entry!r} has no /prefix")
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"must be CIDR networks: such as 10.0.0.0/8 or 2001:db8::/32, but "
                                 f"{entry!r} is none") from None
            raise ValueError(f"must be networks, not hosts in them: {entry!r} has host bits set "
                             f"(did you mean {network}?)") from None
        if str(networks[-1]) != entry:
            raise ValueError(f"must be written in canonical form: {entry!r} is {networks[-1]}")
    if len(set(networks)) != len(networks):
        raise ValueError("must name each network once")
    everything = [str(n) for n in networks if n.prefixlen == 0]
    if everything and len(networks) > 1:
        raise ValueError(f"must list {everything[0]} alone: it lets every address in, which makes the other "
                         "entries pointless; "
                         "give it alone to mean anywhere, or leave it out")
    return value


ClientNetworks = Annotated[list[str], AfterValidator(_client_networks)]


def _ip_address(value: str) -> str:
    """The rule: an IPv4 or IPv6 address of this host (127.0.0.1: this host only; 0.0.0.0: every interface)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("must be an IP address: IPv4 or IPv6, such as 127.0.0.1 (this host only) or 0.0.0.0 "
                         "(every interface)") from None
    return value


IpAddress = Annotated[str, AfterValidator(_ip_address)]


# Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity): a number,
# then a binary or decimal SI suffix or a decimal exponent.
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE])?")
_QUANTITY_SUFFIXES = {
    None: Fraction(1), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 10**3),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}


def quantity_value(quantity: str) -> Fraction:
    """A Kubernetes quantity's exact value (1.5 and 1500m are equal, as for the API server)."""
    match = _QUANTITY.fullmatch(quantity) if isinstance(quantity, str) else None
    if match is None:
        raise ValueError(f"{quantity!r} is no Kubernetes quantity")
    number, suffix = match.groups()
    if suffix and suffix[0] in "eE" and len(suffix) > 1:
        return Fraction(number) * Fraction(10) ** int(suffix[1:])
    return Fraction(number) * _QUANTITY_SUFFIXES[suffix]


_BINARY_SUFFIXES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_DECIMAL_SUFFIXES = {18: "E", 15: "P", 12: "T", 9: "G", 6: "M", 3: "k", 0: "", -3: "m", -6: "u", -9: "n"}


def canonical_quantity(quantity: str) -> str:
    """A quantity as the API server writes it back (resource.Quantity's canonical form):
    a binary suffix stays binary, at the largest unit that keeps the number whole (10240Mi
    is 10Gi), unless the value is below 1024 or not whole; otherwise the largest decimal
    unit that keeps it whole (1000M is 1G).  What a live object's field is compared with."""
    value = quantity_value(quantity)
    suffix = _QUANTITY.fullmatch(quantity).group(2) or ""
    if suffix.endswith("i") and abs(value) >= 1024 and value.denominator == 1:
        number, unit = int(value), 0
        while number % 1024 == 0 and unit < len(_BINARY_SUFFIXES) - 1:
            number, unit = number // 1024, unit + 1
        return f"{number}{_BINARY_SUFFIXES[unit]}"
    if value == 0:
        return "0"
    for exponent, unit in _DECIMAL_SUFFIXES.items():
        number = value / Fraction(10) ** exponent
        if number.denominator == 1:
            return f"{number.numerator}{unit}"
    return quantity
