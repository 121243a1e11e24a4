"""What the sandbox hides by default: credential stores, files the environment points at,
sockets the environment names, and (for root launches) root-only files under ``/etc``.

The lists are data. ``deny_read`` in a config file (or ``--deny-read``) adds to
``DEFAULT_DENY_READ``; ``default_deny_read = false`` drops it; ``allow_agents`` (``--allow-agent``)
lets one named socket through. ``docs/sandbox.md`` prints the same lists for users.
Standard library only: ``sandbox run``'s hot path imports this.
"""

from __future__ import annotations

import os

# Credential stores, by kind. "~" is the invoking user's home (and /root for root launches).
# A missing entry costs nothing; a present one is covered by an empty mode-000 file/directory.
DENY_READ_GROUPS: dict[str, tuple[str, ...]] = {
    "ssh, gpg and password managers": (
        "~/.ssh",
        "~/.gnupg",
        "~/.password-store",
        "~/.local/share/keyrings",  # GNOME keyring
        "~/.local/share/kwalletd",  # KDE wallet
        "~/.config/op",  # 1Password CLI
        "~/.config/Bitwarden CLI",
        "~/.config/sops",  # age/PGP keys for sops
    ),
    "git and forges": (
        "~/.netrc",
        "~/.git-credentials",
        "~/.config/git/credentials",
        "~/.config/gh",
        "~/.config/hub",
        "~/.config/glab-cli",
        "~/.config/github-copilot",
    ),
    "cloud and cluster CLIs": (
        "~/.aws",
        "~/.config/gcloud",
        "~/.azure",
        "~/.config/doctl",
        "~/.oci",
        "~/.kube",
        "~/.docker",
        "~/.s3cfg",
        "~/.config/rclone",
        "~/.terraform.d/credentials.tfrc.json",
        "~/.vault-token",
        "~/.config/helm/repositories.yaml",
        "~/.fly",
        "~/.config/heroku",
        "~/.netlify",
        "~/.config/vercel",
        "~/.terraformrc",
        "~/.boto",
        "~/.minikube",
        "~/.config/ngrok",
        "~/.config/stripe",
        "~/.wrangler",
    ),
    "package registries": (
        "~/.pypirc",
        "~/.npmrc",
        "~/.cargo/credentials",
        "~/.cargo/credentials.toml",
        "~/.gem/credentials",
        "~/.local/share/gem/credentials",
        "~/.m2/settings.xml",
        "~/.m2/settings-security.xml",
        "~/.gradle/gradle.properties",
        "~/.config/composer/auth.json",
        "~/.composer/auth.json",
        "~/.nuget/NuGet/NuGet.Config",
        "~/.dockercfg",
    ),
    "databases": (
        "~/.pgpass",
        "~/.my.cnf",
        "~/.mylogin.cnf",
        "~/.dbshell",
        "~/.rediscli_history",
        "~/.psql_history",
        "~/.mysql_history",
        "~/.sqlite_history",
    ),
    "AI agents": (
        "~/.codex/auth.json",
        "~/.claude/.credentials.json",
        "~/.config/gemini",
        "~/.huggingface/token",
        "~/.cache/huggingface/token",
        "~/.kaggle/kaggle.json",
    ),
    "shell and REPL histories (commands typed with secrets in them)": (
        "~/.bash_history",
        "~/.zsh_history",
        "~/.local/share/fish/fish_history",
        "~/.python_history",
        "~/.node_repl_history",
        "~/.local/share/atuin",
        "~/.viminfo",
    ),
    "browser profiles (saved logins, cookies)": (
        "~/.mozilla",
        "~/.config/google-chrome",
        "~/.config/chromium",
        "~/.config/BraveSoftware",
        "~/.config/microsoft-edge",
    ),
    "host secrets": (
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/shadow-",
        "/etc/gshadow-",
    ),
}
DEFAULT_DENY_READ: tuple[str, ...] = tuple(p for group in DENY_READ_GROUPS.values() for p in group)

# Variables that name a credential file or directory: what they point at is hidden too.
# ":" marks a colon-separated list (KUBECONFIG).
ENV_POINTED_SECRETS: dict[str, str] = {
    "GOOGLE_APPLICATION_CREDENTIALS": "file",
    "CLOUDSDK_CONFIG": "dir",
    "KUBECONFIG": ":",
    "AWS_SHARED_CREDENTIALS_FILE": "file",
    "AWS_CONFIG_FILE": "file",
    "AZURE_CONFIG_DIR": "dir",
    "DOCKER_CONFIG": "dir",
    "GNUPGHOME": "dir",
    "PGPASSFILE": "file",
    "MYSQL_TEST_LOGIN_FILE": "file",
    "NETRC": "file",
    "PASSWORD_STORE_DIR": "dir",
    "VAULT_CONFIG_PATH": "file",
    "TF_CLI_CONFIG_FILE": "file",
    "NPM_CONFIG_USERCONFIG": "file",
    "PIP_CONFIG_FILE": "file",
    "CARGO_HOME": "cargo",
    "RCLONE_CONFIG": "file",
    "HISTFILE": "file",
}

# Sockets named by the environment that act with the user's authority: an ssh agent signs
# with the user's keys, a docker/podman socket is root on the host, the session bus reaches
# the keyring and the desktop. Masked and the variable dropped, unless allowed by name.
AGENT_VARIABLES: dict[str, tuple[str, ...]] = {
    "ssh": ("SSH_AUTH_SOCK", "SSH_AGENT_PID"),
    "gpg": ("GPG_AGENT_INFO",),
    "docker": ("DOCKER_HOST", "CONTAINER_HOST"),
    "dbus": ("DBUS_SESSION_BUS_ADDRESS",),
}
AGENTS = tuple(AGENT_VARIABLES)


def _unix_path(var: str, value: str) -> list[str]:
    """The socket paths a variable's value names."""
    v = value.strip()
    if not v:
        return []
    if var in ("DOCKER_HOST", "CONTAINER_HOST"):
        return [v[len("unix://") :]] if v.startswith("unix://") else []
    if var == "DBUS_SESSION_BUS_ADDRESS":
        out = []
        for addr in v.split(";"):
            kind, _, params = addr.partition(":")
            if kind != "unix":
                continue
            for kv in params.split(","):
                k, _, val = kv.partition("=")
                if k == "path" and val:
                    out.append(_unescape_dbus(val))
        return out
    if var == "GPG_AGENT_INFO":
        return [v.split(":", 1)[0]]
    if var == "SSH_AGENT_PID":
        return []
    return [v]


def _unescape_dbus(s: str) -> str:
    """D-Bus address values escape bytes as %XX."""
    out = bytearray()
    b = s.encode()
    i = 0
    while i < len(b):
        if b[i] == 0x25 and i + 3 <= len(b):
            try:
                out.append(int(b[i + 1 : i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(b[i])
        i += 1
    return out.decode(errors="replace")


def gpg_agent_sockets(homes, environ) -> list[str]:
    """Where gpg-agent listens without asking gpgconf (a subprocess per launch is too slow):
    ``$GNUPGHOME`` or ``~/.gnupg``, and ``/run/user/UID/gnupg`` (masked with /run/user)."""
    bases = [environ["GNUPGHOME"]] if environ.get("GNUPGHOME") else []
    bases += [os.path.join(h, ".gnupg") for h in homes]
    return [
        os.path.join(b, s)
        for b in bases
        for s in ("S.gpg-agent", "S.gpg-agent.ssh", "S.gpg-agent.extra", "S.gpg-agent.browser")
    ]


def env_named(
    environ, *, allow_agents=(), homes=(), default_deny: bool = True, cwd: str = "/"
) -> tuple[list[str], list[str]]:
    """(paths to hide, variables to drop) that ``environ`` names.

    Credential files a variable points at are hidden (not the variable: tools still find the
    path and get an empty file); agent sockets are hidden and their variables dropped unless the
    agent is in ``allow_agents``.
    """
    hide: list[str] = []
    drop: list[str] = []
    if default_deny:
        for var, kind in ENV_POINTED_SECRETS.items():
            v = environ.get(var)
            if not v:
                continue
            if kind == ":":
                hide += [os.path.join(cwd, p) for p in v.split(":") if p]
            elif kind == "cargo":
                hide += [os.path.join(cwd, v, "credentials"), os.path.join(cwd, v, "credentials.toml")]
            else:
                hide.append(os.path.join(cwd, v))
    allowed = set(allow_agents)
    for agent, names in AGENT_VARIABLES.items():
        if agent in allowed:
            continue
        for var in names:
            v = environ.get(var)
            if v is None:
                continue
            drop.append(var)
            hide += [os.path.join(cwd, p) for p in _unix_path(var, v)]
        if agent == "gpg":
            hide += gpg_agent_sockets(homes, environ)
    return hide, drop


# --- root launches: files under /etc only root may read ---------------------------------------
ROOT_ONLY_SCAN = "/etc"


def root_only_files(top: str = ROOT_ONLY_SCAN, *, watch=None) -> list[str]:
    """Entries under ``top`` that others may not read (``/etc/ssl/private``, ssh host keys,
    ``sudoers``, NetworkManager connections, ...): a root launch passes every owner check even
    with no capabilities, so these are hidden for it. A directory closed to others is hidden
    whole (not descended into). Symlinks are skipped (their targets are checked where they live).

    ``watch(path, directory)`` is called before a directory is listed and before an entry is
    examined (sandbox.linux.fswatch keeps the result while nothing watched changes); once it
    returns False it is not called again."""
    out: list[str] = []
    stack = [top]
    lstat = os.lstat
    watching = watch is not None
    while stack:
        d = stack.pop()
        if watching:
            watching = watch(d, True)
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if _transient(name):
                continue
            p = f"{d}/{name}"
            if watching:
                watching = watch(p, False)
            try:
                mode = lstat(p).st_mode
            except OSError:
                continue
            kind = mode & 0o170000
            if kind == 0o040000:  # a directory: hidden whole when others cannot list or enter it
                if mode & 0o005 != 0o005:
                    out.append(p)
                else:
                    stack.append(p)
            elif kind != 0o120000 and not mode & 0o004:  # symlinks: checked where they point
                out.append(p)
    return sorted(out)


def _transient(name: str) -> bool:
    """Lock and temporary files that come and go while tools edit /etc (shadow-utils writes
    ``shadow+``, locks ``shadow.lock`` and ``shadow.PID``): a mask over a file that is gone by
    the time bubblewrap mounts it would fail the launch. None of them holds a secret for long."""
    _base, dot, ext = name.rpartition(".")
    return (
        name.endswith(("+", "~", ".lock", ".tmp"))
        or name.startswith(".#")
        or (bool(dot) and ext.isascii() and ext.isdigit())
    )  # the native scan (sandbox/linux/cordon_inner.c, transient()) applies the same rules
