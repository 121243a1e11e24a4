"""The macOS plan: the exact ``sandbox-exec`` argv, the profile and the environment, as data.

``build_plan`` is pure (no OS call at all), so ``sandbox plan --platform macos`` works
from any host and shows byte for byte what ``execute.run`` would launch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cordon.sandbox.errors import ConfigError
from cordon.sandbox.macos.profile import darwin_path, render
from cordon.sandbox.noproxy import no_proxy_for_domains
from cordon.sandbox.resolve import ResolvedPolicy, apply_env

# Hard-coded, never looked up on PATH: a PATH entry the command controls must not
# be able to stand in for the sandbox itself.
SANDBOX_EXEC = "/usr/bin/sandbox-exec"

# Shown in `sandbox plan` when no temp folder was made yet; `run` replaces it with a
# fresh mkdtemp() folder before launching.
TMPDIR_PLACEHOLDER = "/private/tmp/cordon-sandbox.XXXXXXXX"
# Shown in `sandbox plan` for the proxy's loopback port, which `run` picks when it starts the
# proxy (any free port): the profile shown is the one `run` enforces, with this number replaced.
PROXY_PORT_PLACEHOLDER = 49152

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True, slots=True, kw_only=True)
class MacosPlan:
    """What runs on macOS: ``argv`` is exactly what is exec'd, ``env`` its environment."""

    platform: str = "macos"
    argv: list[str]
    profile: str
    params: dict[str, str]
    env: dict[str, str]
    cwd: str
    tmpdir: str | None
    proxy_ports: list[int]
    notes: list[str]
    # Resource limits: rlimits the launcher sets in the child before exec (name -> [soft, hard]),
    # the wall-clock limit its timer enforces, and how each limit asked for is (not) enforced.
    rlimits: dict[str, list[int]] = field(default_factory=dict)
    wall: float | None = None
    resource_limits: list[dict] = field(default_factory=list)
    unenforced: list[str] = field(default_factory=list)

    def as_data(self) -> dict:
        """The plan as JSON-ready data (``sandbox plan --json``)."""
        return dataclasses.asdict(self)


# Resource limit -> (rlimit or None, how it is enforced) or (None, why it cannot be).
MACOS_LIMITS = {
    "memory": (None, "macOS does not enforce RLIMIT_AS or RLIMIT_DATA, and has no memory cgroup"),
    "pids": (None, "RLIMIT_NPROC counts every process of the user on macOS, not the sandbox's"),
    "cpu": ("RLIMIT_CPU", "rlimit RLIMIT_CPU (each process)"),
    "wall": (None, "the launcher's timer (TERM, grace, KILL of the command's process group)"),
    "file-size": ("RLIMIT_FSIZE", "rlimit RLIMIT_FSIZE (each file written)"),
    "tmp": (None, "the private temp folder is on disk: no size can be set"),
}
ENFORCED_ON_MACOS = ("cpu", "wall", "file-size")
# How a reached limit is recognised on macOS: (the signal the kernel sends at an rlimit, its
# number on macOS, what happened); wall: the launcher's own timer. The signal shows as the
# exit status 128 + number (the command ends by it: Cordon resets neither to ignored).
MACOS_REACHED = {
    "cpu": ("SIGXCPU", 24, "the command was killed"),
    "file-size": ("SIGXFSZ", 25, "the command was killed"),
    "wall": (None, None, "the sandbox was ended"),
}


def resource_limits(
    policy: ResolvedPolicy,
) -> tuple[dict[str, list[int]], float | None, list[dict], list[str]]:
    """(rlimits, wall, entries, unenforced keys) for the policy's resource limits on macOS."""
    from cordon.sandbox.limits import KEYS

    rlimits: dict[str, list[int]] = {}
    entries: list[dict] = []
    unenforced: list[str] = []
    wall = None
    for key, (attr, _, _) in KEYS.items():
        value = getattr(policy.limits, attr, None)
        if value is None:
            continue
        rlimit, text = MACOS_LIMITS[key]
        enforced = key in ENFORCED_ON_MACOS
        sig, num, detail = MACOS_REACHED.get(key, (None, None, None)) if enforced else (None, None, None)
        entries.append(
            {
                "key": key,
                "value": value,
                "enforced": enforced,
                "mechanism": text if enforced else None,
                "why": None if enforced else text,
                "reached_by": (
                    (f"signal {sig} (exit status {128 + num})" if sig else "the launcher's own timer")
                    if enforced
                    else None
                ),
                "signal": sig,
                "exit_code": 128 + num if num else (143 if key == "wall" and enforced else None),
                "detail": detail,
            }
        )
        if not enforced:
            unenforced.append(key)
        elif key == "wall":
            wall = float(value)
        elif key == "cpu":
            soft = int(-(-value // 1))
            rlimits[rlimit] = [soft, soft + 1]  # SIGXCPU, then SIGKILL a second later
        else:
            rlimits[rlimit] = [int(value), int(value)]
    return rlimits, wall, entries, unenforced


def limit_reached(plan: MacosPlan, exit_code: int, wall_ended: bool = False) -> dict | None:
    """The limit that ended the command (its ``resource_limits`` entry), from the exit status
    (128 + the rlimit's signal) or the launcher's wall timer; None without such evidence. The
    launcher prints ``sandbox.limits.reached(key, value, entry["detail"])`` for it."""
    for e in plan.resource_limits:
        if not e["enforced"]:
            continue
        if e["key"] == "wall":
            if wall_ended:
                return e
        elif e["exit_code"] is not None and e["exit_code"] == exit_code and not wall_ended:
            return e
    return None


def proxy_ports_from_env(env: Mapping[str, str]) -> list[int]:
    """Loopback ports named by the *_PROXY variables (how Codex finds its proxy)."""
    ports: list[int] = []
    for var in PROXY_VARS:
        value = env.get(var)
        if not value:
            continue
        try:
            parts = urlsplit(value if "://" in value else f"http://{value}")
            host, port = parts.hostname, parts.port
        except ValueError:
            continue
        if host in LOOPBACK_HOSTS and port and port not in ports:
            ports.append(port)
    return ports


def build_plan(
    policy: ResolvedPolicy,
    argv: list[str],
    env: Mapping[str, str],
    *,
    proxy_port: int | None = None,
    proxy_url: str | None = None,
    tmpdir: str | None = None,
    preview: bool = False,
) -> MacosPlan:
    """Plan ``argv`` under ``policy`` on macOS.

    ``env`` is the parent environment; the command gets ``apply_env(policy.env, env)``
    plus the sandbox markers. ``proxy_port``: the local proxy's loopback port in PROXY mode
    (else the loopback ports in the *_PROXY variables are used; none means no network);
    ``proxy_url``: what *_PROXY should say (e.g. with the proxy's credential).
    ``tmpdir``: the private temp folder (``run`` makes one; None shows a placeholder).
    ``preview``: for display (``sandbox plan``): without a known port in PROXY mode, show the
    rules for the proxy ``run`` would start, on ``PROXY_PORT_PLACEHOLDER``.
    """
    if not argv:
        raise ConfigError("no command given", field="argv")
    notes: list[str] = []
    child_env = apply_env(policy.env, env)
    # The loader must not be steerable from outside the sandbox (DYLD_INSERT_LIBRARIES...).
    for k in [k for k in child_env if k.startswith("DYLD_")]:
        del child_env[k]

    ports: list[int] = []
    if policy.network.mode == "proxy":
        if proxy_port is None and preview:
            proxy_port = PROXY_PORT_PLACEHOLDER
            notes.append(
                f"proxy port {PROXY_PORT_PLACEHOLDER} is a placeholder: `sandbox run` starts the "
                "domain-filtering proxy on a free loopback port and allows only that port"
            )
        if proxy_port is not None:
            if not (isinstance(proxy_port, int) and 0 < proxy_port < 65536):
                raise ConfigError(f"proxy port out of range: {proxy_port!r}", field="network.proxy_port")
            ports = [proxy_port]
            url = proxy_url or f"http://127.0.0.1:{proxy_port}"
            for var in PROXY_VARS:
                child_env[var] = url
            # The same list as on Linux (the user's entries, then loopback unless a loopback
            # destination is allowed). No namespace here: a direct loopback connection meets the
            # profile, which allows only the proxy's port.
            bypass = no_proxy_for_domains(policy.network.allow_domains, policy.env.set or {})
            child_env["NO_PROXY"] = child_env["no_proxy"] = bypass
        else:
            ports = proxy_ports_from_env(child_env)
        if not ports:
            notes.append(
                "network=proxy but no proxy port is known: the profile allows no network (fail closed)"
            )

    private_tmp: str | None = None
    if not policy.share_tmp:
        private_tmp = darwin_path(tmpdir) if tmpdir else TMPDIR_PLACEHOLDER
        for var in ("TMPDIR", "TMP", "TEMP"):
            child_env[var] = private_tmp
    host_tmpdir = env.get("TMPDIR") if policy.share_tmp else None

    profile = render(policy, tmpdir=private_tmp, proxy_ports=ports, host_tmpdir=host_tmpdir)

    # The same markers as on Linux (sandbox.linux.assemble.sandbox_env).
    child_env["CORDON_SANDBOX"] = "seatbelt"
    child_env["CORDON_SANDBOX_NETWORK"] = policy.network.mode
    if policy.network.mode == "off":
        child_env["CODEX_SANDBOX_NETWORK_DISABLED"] = "1"  # what tools written for Codex look for

    out = [SANDBOX_EXEC, "-p", profile.text]
    for key, value in profile.params.items():
        out += ["-D", f"{key}={value}"]
    out += ["--", *argv]
    if policy.mode == "danger-full-access":
        notes.append("danger-full-access: every path is writable; reads still exclude the deny-read list")
    rlimits, wall, entries, unenforced = resource_limits(policy)
    return MacosPlan(
        rlimits=rlimits,
        wall=wall,
        resource_limits=entries,
        unenforced=unenforced,
        argv=out,
        profile=profile.text,
        params=dict(profile.params),
        env=child_env,
        cwd=darwin_path(policy.cwd),
        tmpdir=private_tmp,
        proxy_ports=ports,
        notes=notes,
    )
