"""Configuration files for the sandbox: keys map 1:1 to ``sandbox run`` flags.

Precedence, lowest to highest (later layers override scalars and extend lists):
  1. built-in defaults (sandbox.resolve);
  2. the user file ``$XDG_CONFIG_HOME/cordon/config.toml`` (default ``~/.config/cordon/config.toml``);
  3. the project files: every ``.cordon.toml`` from the farthest ancestor of the working
     directory down to the working directory itself, merged so that tightening is monotone
     (lists extend; ``mode``, ``network``, ``env.inherit``, ``fallback`` and the booleans keep
     the tighter value): a nearer file never discards a farther file's restrictions. Relative
     paths in a project file are relative to that file's folder. A project file comes with
     the repository (or was written by a sandboxed command), so it may only TIGHTEN the
     sandbox unless the user file lists its folder in ``trusted_projects``;
  4. each ``--config FILE`` in order (explicit, so trusted);
  5. command-line flags.

Foreign formats, so users can bring what they have:
  * Codex ``config.toml``: ``sandbox_mode``, ``[sandbox_workspace_write]`` (``writable_roots``,
    ``network_access``; ``exclude_tmpdir_env_var``/``exclude_slash_tmp`` are moot: /tmp
    is private here) and ``[shell_environment_policy]``; other Codex keys are ignored;
  * srt settings JSON (``*.json``): ``filesystem.denyRead/allowWrite/denyWrite`` and
    ``network.allowedDomains/deniedDomains``.

Errors are ``ConfigError`` naming the field and the file. Standard library only (the
``sandbox run`` hot path reads config); nothing is written.
"""

from __future__ import annotations

import os

from cordon.sandbox.errors import ConfigError

# key -> (flag, kind). kinds: str, path, bool, list, choice:<a|b|c>, limits (a [limits] table,
# or repeated --limit KEY=VALUE; see cordon.sandbox.limits)
KEYS: dict[str, tuple[str, str]] = {
    "mode": ("--mode", "choice:read-only|workspace-write|danger-full-access"),
    "workspace": ("--workspace", "path"),
    "writable_roots": ("--writable-root", "list"),
    "read_only": ("--read-only", "list"),
    "deny_read": ("--deny-read", "list"),
    "default_deny_read": ("--no-default-deny-read", "bool"),
    "allow_git_write": ("--allow-git-write", "bool"),
    "share_tmp": ("--share-tmp", "bool"),
    "network": ("--network", "choice:off|on|proxy"),
    "allow_domains": ("--allow-domain", "list"),
    "deny_domains": ("--deny-domain", "list"),
    "resolve": ("--resolve", "list"),
    "net_log": ("--net-log", "path"),
    "fallback": ("--fallback", "choice:none|landlock"),
    "rules": ("--rules", "list"),
    "allow_unenforced": ("--allow-unenforced", "list"),
    "allow_agents": ("--allow-agent", "list"),
    "explain": ("--explain", "bool"),
    "limits": ("--limit", "limits"),
    "env.inherit": ("--env-inherit", "choice:all|core|none"),
    "env.ignore_default_excludes": ("--env-ignore-default-excludes", "bool"),
    "env.exclude": ("--env-exclude", "list"),
    "env.set": ("--env-set", "list"),
    "env.include_only": ("--env-include-only", "list"),
}
# Guarantees a platform backend may be unable to enforce (today: Windows without its provisioned
# sandbox account). Naming one in allow_unenforced is the explicit opt-out; otherwise it refuses.
UNENFORCEABLE = ("network", "deny-read", "limits")

# The key under which merged options record which file set each key (see merge()).
ORIGIN = "__origin__"
SYNTAX_HINT = "fix the file's syntax; nothing was run"
# Shown for a network pattern that does not parse (the same words as `sandbox proxy`).
PATTERN_HINT = (
    "patterns are example.com, *.example.com (subdomains), **.example.com (both), host:PORT, "
    "or an IP/CIDR; see docs/netproxy.md"
)

# Only meaningful in the user file.
USER_ONLY_KEYS = ("trusted_projects",)

# What a project file may set without being trusted: these can only narrow the sandbox.
TIGHTENING = {
    "read_only",
    "deny_read",
    "deny_domains",
    "env.exclude",
    "explain",
}
# Values that are tightening for a few otherwise-widening keys.
TIGHTENING_VALUES = {"mode": {"read-only"}, "network": {"off"}, "env.inherit": {"core", "none"}}

CODEX_KEYS = ("sandbox_mode", "sandbox_workspace_write", "shell_environment_policy")


def user_config_path(environ=None) -> str:
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".config"
    )
    return os.path.join(base, "cordon", "config.toml")


def find_project_configs(cwd: str) -> list[str]:
    """Every ``.cordon.toml`` in ``cwd`` and its ancestors, the farthest first."""
    out = []
    d = os.path.abspath(cwd)
    while True:
        cand = os.path.join(d, ".cordon.toml")
        if os.path.isfile(cand):
            out.append(cand)
        parent = os.path.dirname(d)
        if parent == d:
            return out[::-1]
        d = parent


def find_project_config(cwd: str) -> str | None:
    """The nearest project file (``find_project_configs`` has them all)."""
    found = find_project_configs(cwd)
    return found[-1] if found else None


# Keys whose values are paths: in a project file they are relative to the file's folder.
PATH_KEYS = ("workspace", "writable_roots", "read_only", "deny_read", "net_log")
# Scalars with an order, tightest first: merging project files keeps the tighter value.
TIGHTEST_FIRST = {
    "mode": ("read-only", "workspace-write", "danger-full-access"),
    "network": ("off", "proxy", "on"),
    "env.inherit": ("none", "core", "all"),
    "fallback": ("none", "landlock"),
}
TIGHT_BOOLS = {"allow_git_write": False, "share_tmp": False, "env.ignore_default_excludes": False}
TIGHT_BOOLS["default_deny_read"] = True


def _anchor(layer: dict, folder: str) -> dict:
    """Relative paths of a project file made absolute against its folder (``~`` stays)."""

    def one(v: str) -> str:
        return v if os.path.isabs(v) or v == "~" or v.startswith("~/") else os.path.join(folder, v)

    out = dict(layer)
    for k in PATH_KEYS:
        if k in out:
            out[k] = [one(v) for v in out[k]] if isinstance(out[k], list) else one(out[k])
    return out


def merge_tightening(layers: list[dict]) -> dict:
    """Project files, farthest first: lists extend, ordered scalars keep the tighter value,
    the rest (``workspace``, ``explain``...) the nearer one. So no file drops a restriction
    another file set."""
    out: dict = {}
    origin: dict[str, str] = {}
    for layer in layers:
        files = layer.get(ORIGIN) or {}
        for k, v in layer.items():
            if k == ORIGIN:
                continue
            before = out.get(k)
            if k not in out:
                out[k] = v
            elif isinstance(v, list) and isinstance(out[k], list):
                out[k] = out[k] + [x for x in v if x not in out[k]]
            elif k in TIGHTEST_FIRST:
                out[k] = min(out[k], v, key=TIGHTEST_FIRST[k].index)
            elif k in TIGHT_BOOLS:
                out[k] = TIGHT_BOOLS[k] if TIGHT_BOOLS[k] in (out[k], v) else v
            else:
                out[k] = v
            if k in files and (out[k] != before or k not in origin):
                origin[k] = files[k]  # the file whose value stands
    if origin:
        out[ORIGIN] = origin
    return out


def _believe_user_file(path: str, environ=None) -> None:
    """The state-trust rules (cordon.policy.statetrust) for the user config: it decides how
    every command is confined, so one that others could change, or that a sandboxed command
    may have written, is refused (exit 2) rather than used or silently skipped."""
    from cordon.policy.statetrust import file_problem, journal_path, recent_launches

    why = file_problem(path, allow_root=True)
    if why:
        raise ConfigError(
            f"not trusted: {why}; the user config must be a regular file only you (or root) can change",
            source=path,
        )
    why = recent_launches(environ).exposure(path)
    if why:
        raise ConfigError(
            f"a sandboxed command may have written this file: {why}. Check its content; if it is "
            f"yours, delete the launch journal {journal_path(environ)} to accept it again",
            source=path,
        )


def check_value(key: str, value, source: str):
    """Validate one value against the key table; returns the normalised value."""
    if key not in KEYS:
        raise ConfigError(f"unknown key (known: {', '.join(sorted(KEYS))})", field=key, source=source)
    kind = KEYS[key][1]
    if kind in ("str", "path"):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"expected a non-empty string, got {value!r}", field=key, source=source)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {value!r}", field=key, source=source)
        return value
    if kind == "list":
        if key in ("resolve", "env.set") and isinstance(value, dict):
            value = [f"{k}={v}" for k, v in value.items()]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"expected a list of strings, got {value!r}", field=key, source=source)
        for v in value:
            _check_item(key, v, source)
        if key == "resolve":
            value = ["=".join(split_pin(v)) for v in value]
        return list(value)
    if kind == "limits":
        from cordon.sandbox.limits import parse_items

        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (dict, list)):
            raise ConfigError(
                f'expected a table like {{ memory = "512M" }}, got {value!r}', field=key, source=source
            )
        return parse_items(value, source)
    if kind.startswith("choice:"):
        choices = kind[7:].split("|")
        if value not in choices:
            raise ConfigError(
                f"expected one of {', '.join(choices)}, got {value!r}", field=key, source=source
            )
        return value
    raise AssertionError(kind)


def split_pin(v: str) -> tuple[str, str]:
    """``HOST=ADDR`` (like curl's --resolve, minus the port) or ``HOST:ADDR`` -> (host, addr).

    ``=`` wins when present, so ``host=::1`` and ``host:::1`` both pin an IPv6 address.
    """
    host, sep, addr = v.partition("=")
    if not sep:
        host, _, addr = v.partition(":")
    return host.strip(), addr.strip()


def _check_item(key: str, v: str, source: str) -> None:
    if key == "allow_agents":
        from cordon.sandbox.denylist import AGENTS

        if v not in AGENTS:
            raise ConfigError(
                f"unknown agent {v!r}; the agents whose sockets can be let through are: {', '.join(AGENTS)}",
                field=key,
                source=source,
            )
    if key == "allow_unenforced" and v not in UNENFORCEABLE:
        raise ConfigError(
            f"unknown guarantee {v!r}; the ones a platform may be unable to enforce are: "
            f"{', '.join(UNENFORCEABLE)}",
            field=key,
            source=source,
        )
    if key == "resolve" and not all(split_pin(v)):
        raise ConfigError(f"expected HOST=ADDR, got {v!r}", field=key, source=source)
    if key == "env.set" and ("=" not in v or not v.split("=", 1)[0]):
        raise ConfigError(f"expected NAME=VALUE, got {v!r}", field=key, source=source)


def _flatten(data: dict, source: str, prefix: str = "") -> dict:
    out = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key == "env":
            out.update(_flatten(v, source, "env."))
        elif key in USER_ONLY_KEYS:
            out[key] = v
        else:
            out[key] = check_value(key, v, source)
    return out


def _from_codex(data: dict, source: str) -> dict:
    """Codex config.toml keys -> ours. Unrelated Codex keys (model=...) are ignored."""
    out: dict = {}
    if "sandbox_mode" in data:
        out["mode"] = check_value("mode", data["sandbox_mode"], source)
    sww = data.get("sandbox_workspace_write") or {}
    if not isinstance(sww, dict):
        raise ConfigError("expected a table", field="sandbox_workspace_write", source=source)
    for k, v in sww.items():
        field = f"sandbox_workspace_write.{k}"
        if k == "writable_roots":
            out["writable_roots"] = check_value("writable_roots", v, source)
        elif k == "network_access":
            if not isinstance(v, bool):
                raise ConfigError(f"expected true or false, got {v!r}", field=field, source=source)
            out["network"] = "on" if v else "off"
        elif k in ("exclude_tmpdir_env_var", "exclude_slash_tmp"):
            if not isinstance(v, bool):
                raise ConfigError(f"expected true or false, got {v!r}", field=field, source=source)
        else:
            raise ConfigError("unknown key in [sandbox_workspace_write]", field=field, source=source)
    sep = data.get("shell_environment_policy") or {}
    if not isinstance(sep, dict):
        raise ConfigError("expected a table", field="shell_environment_policy", source=source)
    for k, v in sep.items():
        field = f"shell_environment_policy.{k}"
        if k in ("inherit", "ignore_default_excludes", "exclude", "set", "include_only"):
            try:
                out[f"env.{k}"] = check_value(f"env.{k}", v, source)
            except ConfigError as e:
                raise ConfigError(e.message, field=field, source=source) from None
        elif k in ("experimental_use_profile", "filters"):
            continue  # no meaning for a sandbox launch
        else:
            raise ConfigError("unknown key in [shell_environment_policy]", field=field, source=source)
    return out


def _from_srt(data: dict, source: str) -> dict:
    """srt settings JSON -> ours (the subset that has a meaning here)."""
    out: dict = {}
    fs = data.get("filesystem") or {}
    net = data.get("network") or {}
    for sect, name in ((fs, "filesystem"), (net, "network")):
        if not isinstance(sect, dict):
            raise ConfigError("expected an object", field=name, source=source)
    mapping = {
        ("filesystem", "denyRead"): "deny_read",
        ("filesystem", "allowWrite"): "writable_roots",
        ("filesystem", "denyWrite"): "read_only",
        ("network", "allowedDomains"): "allow_domains",
        ("network", "deniedDomains"): "deny_domains",
    }
    for (sect, k), ours in mapping.items():
        v = (fs if sect == "filesystem" else net).get(k)
        if v is None:
            continue
        try:
            out[ours] = check_value(ours, v, source)
        except ConfigError as e:
            raise ConfigError(e.message, field=f"{sect}.{k}", source=source) from None
    if "allowedDomains" in net:
        out["network"] = "proxy" if out.get("allow_domains") else "off"
    return out


def load_file(path: str) -> dict:
    """One file -> flat dict of our keys. Format by content: srt JSON, Codex TOML, or ours."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(
            "file not found",
            source=path,
            hint="check the path; --config takes a Cordon TOML file, a Codex config.toml or an srt "
            "settings JSON",
        ) from None
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", source=path, hint="") from None
    if path.endswith(".json"):
        import json

        try:
            data = json.loads(raw)
        except ValueError as e:
            raise ConfigError(f"invalid JSON: {e}", source=path, hint=SYNTAX_HINT) from None
        if not isinstance(data, dict):
            raise ConfigError("expected a JSON object", source=path)
        return _from_srt(data, path)
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"invalid TOML: {e}", source=path, hint=SYNTAX_HINT) from None
    if any(k in data for k in CODEX_KEYS):
        return _from_codex(data, path)
    if "sandbox" in data and isinstance(data["sandbox"], dict):
        data = data["sandbox"]  # a [sandbox] table is accepted too
    return _flatten(data, path)


def _is_tightening(key: str, value) -> bool:
    if key in TIGHTENING:
        return True
    if key in TIGHTENING_VALUES:
        return value in TIGHTENING_VALUES[key]
    return key in ("allow_git_write", "share_tmp", "env.ignore_default_excludes") and value is False


def _check_limits_tighten(project: dict, before: dict, pdir: str, upath: str, ppath: str) -> None:
    """An untrusted project file may lower a limit (or add one), never raise one: the private
    /tmp's size is compared with its default when no earlier layer set it."""
    from cordon.sandbox.limits import default_tmp_size, show

    for key, value in project.items():
        ceiling = before.get(key, default_tmp_size() if key == "tmp" else None)
        if ceiling is not None and value > ceiling:
            raise ConfigError(
                f"a project file may only tighten the sandbox; {key} = {show(key, value)} is above "
                f"{show(key, ceiling)}. Add {pdir!r} to trusted_projects in {upath} to allow it",
                field=f"limits.{key}",
                source=ppath,
            )


def merge(layers: list[dict]) -> dict:
    """Later layers override scalars and extend lists; tables ([limits]) merge key by key.

    A layer's ``ORIGIN`` entry maps its keys to the file that set them (``load_layers`` adds
    it); keys without one came from the command line. Errors use it to say where a value was set.
    """
    out: dict = {}
    origin: dict[str, str | None] = {}
    for layer in layers:
        files = layer.get(ORIGIN) or {}
        for k, v in layer.items():
            if k == ORIGIN:
                continue
            if isinstance(v, list) and isinstance(out.get(k), list):
                out[k] = out[k] + v
            elif isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = {**out[k], **v}
            else:
                out[k] = v
            origin[k] = files.get(k)
    if any(origin.values()):
        out[ORIGIN] = {k: f for k, f in origin.items() if f}
    return out


def said(opts: dict, key: str) -> str:
    """Where ``key`` was set, in the words its source uses: ``network = "off" in FILE``, or
    ``--network off`` for a command-line flag (the default when nobody set it)."""
    source = (opts.get(ORIGIN) or {}).get(key)
    value = opts.get(key)
    if key not in opts:
        return f"{key} is not set"
    if source:
        return f"{key} = {_toml(value)} in {source}"
    flag = KEYS[key][0]
    if isinstance(value, list):
        return " ".join(f"{flag} {v}" for v in value)
    return flag if value is True else f"{flag} {value}"


def _toml(value) -> str:
    import json

    return json.dumps(value)


def load_layers(cwd: str, config_files=(), environ=None, *, user: bool = True, project: bool = True) -> dict:
    """The merged configuration from user, project and explicit files (not flags)."""
    layers = []
    trusted: list[str] = []
    upath = user_config_path(environ)
    if user and os.path.isfile(upath):
        _believe_user_file(upath, environ)
        u = load_file(upath)
        trusted = u.pop("trusted_projects", []) or []
        if not isinstance(trusted, list) or not all(isinstance(t, str) for t in trusted):
            raise ConfigError("expected a list of directories", field="trusted_projects", source=upath)
        layers.append(_with_origin(u, upath))
    project_layers = []
    trusted_dirs = {os.path.realpath(os.path.expanduser(t)) for t in trusted}
    for ppath in find_project_configs(cwd) if project else ():
        p = load_file(ppath)
        if "trusted_projects" in p:
            raise ConfigError("only allowed in the user file", field="trusted_projects", source=ppath)
        pdir = os.path.realpath(os.path.dirname(ppath))
        exposed = None
        if pdir in trusted_dirs:
            from cordon.policy.statetrust import recent_launches

            exposed = recent_launches(environ).exposure(ppath)
        if pdir not in trusted_dirs or exposed:
            for k, v in p.items():
                if k == "limits":
                    _check_limits_tighten(v, merge(layers).get("limits", {}), pdir, upath, ppath)
                    continue
                if not _is_tightening(k, v):
                    why = (
                        f"its folder is in trusted_projects, but a sandboxed command may have written it: {exposed}"
                        if exposed
                        else f"Add {pdir!r} to trusted_projects in {upath} to allow it"
                    )
                    raise ConfigError(
                        f"a project file may only tighten the sandbox; {k} = {v!r} would widen it. {why}",
                        field=k,
                        source=ppath,
                        hint="",
                    )
        project_layers.append(_with_origin(_anchor(p, os.path.dirname(os.path.abspath(ppath))), ppath))
    if project_layers:
        layers.append(merge_tightening(project_layers))
    for f in config_files:
        c = load_file(os.fspath(f))
        c.pop("trusted_projects", None)
        layers.append(_with_origin(c, os.fspath(f)))
    return merge(layers)


def _with_origin(layer: dict, path: str) -> dict:
    return {**layer, ORIGIN: dict.fromkeys(layer, path)}


def trusted_project_dirs(environ=None) -> list[str]:
    """The folders the user file trusts (for the launcher: their project files are protected
    even where absent). Empty when there is no readable user file."""
    upath = user_config_path(environ)
    if not os.path.isfile(upath):
        return []
    try:
        trusted = load_file(upath).get("trusted_projects") or []
    except ConfigError:
        return []
    return [os.path.realpath(os.path.expanduser(t)) for t in trusted if isinstance(t, str)]


def _network_from_rules(names: list[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """allow/deny domains from the ``network_rule`` entries of rule files (policy engine), and
    where each pattern was declared (pattern -> ``FILE:LINE:COL``, for the proxy's decision log
    and denial events)."""
    from cordon.policy import load_policy

    try:
        pol = load_policy(*names)
    except Exception as e:
        from cordon.policy.shipped import rules_next_step

        raise ConfigError(str(e), field="rules", hint=rules_next_step(e) or "") from None
    allow, deny = [], []
    origins: dict[str, str] = {}
    ports = {"https": ":443", "http": ":80"}  # socks5 rules name no port: any
    for r in getattr(pol, "network_rules", []):
        if r.decision == "allow":
            pattern = r.host + ports.get(r.protocol, "")
            allow.append(pattern)
        else:  # forbidden, and prompt (a sandboxed command cannot be asked): denied
            pattern = r.host
            deny.append(pattern)
        if r.location:
            origins.setdefault(pattern, r.location)  # the first declaration decides, as in the proxy
    return allow, deny, origins


def to_inputs(opts: dict) -> dict:
    """Merged options -> keyword arguments of ``sandbox.resolve.resolve`` (plain values)."""
    from cordon.sandbox.resolve import DEFAULT_DENY_READ

    allow = list(opts.get("allow_domains", []))
    deny = list(opts.get("deny_domains", []))
    from_rules: list[str] = []
    origins: dict[str, str] = {}
    if opts.get("rules"):
        from_rules, d, declared = _network_from_rules(opts["rules"])
        # A pattern also given as a flag or config entry is named by that (it comes first).
        origins = {p: o for p, o in declared.items() if p not in allow and p not in deny}
        allow += from_rules
        deny += d
    net = opts.get("network") or ("proxy" if allow else "off")
    if (allow or opts.get("resolve")) and net != "proxy":
        raise _needs_proxy(opts, net, bool(from_rules))
    if net == "proxy":
        _check_patterns(opts, allow, deny)
    env_set = {}
    for item in opts.get("env.set", []):
        k, _, v = item.partition("=")
        env_set[k] = v
    deny_read = list(DEFAULT_DENY_READ) if opts.get("default_deny_read", True) else []
    deny_read += opts.get("deny_read", [])
    return dict(
        mode=opts.get("mode", "workspace-write"),
        workspace=opts.get("workspace"),
        writable_roots=opts.get("writable_roots", []),
        read_only_paths=opts.get("read_only", []),
        deny_read=deny_read,
        allow_git_write=opts.get("allow_git_write", False),
        share_tmp=opts.get("share_tmp", False),
        fallback=opts.get("fallback", "none"),
        allow_unenforced=list(opts.get("allow_unenforced", [])),
        allow_agents=list(opts.get("allow_agents", [])),
        default_deny_read=opts.get("default_deny_read", True),
        limits=dict(opts.get("limits") or {}),
        network=dict(
            mode=net,
            allow_domains=allow,
            deny_domains=deny,
            resolve=dict(split_pin(r) for r in opts.get("resolve", [])),
            net_log=opts.get("net_log"),
            origins=origins,
        ),
        env=dict(
            inherit=opts.get("env.inherit", "all"),
            ignore_default_excludes=opts.get("env.ignore_default_excludes", False),
            exclude=list(opts.get("env.exclude", [])),
            set=env_set,
            include_only=list(opts.get("env.include_only", [])),
        ),
    )


def _needs_proxy(opts: dict, net: str, from_rules: bool) -> ConfigError:
    """Domains to allow (or pins) with a network mode other than proxy: name where each came from."""
    wanted = [said(opts, k) for k in ("allow_domains", "resolve") if opts.get(k)]
    if from_rules:
        wanted.append(f"the network_rule entries of {said(opts, 'rules')}")
    mode = said(opts, "network") if "network" in opts else "the network is off by default"
    source = (opts.get(ORIGIN) or {}).get("network")
    fix = f"--network proxy (the command line wins over {source})" if source else "--network proxy"
    return ConfigError(
        f"network proxy mode is needed for {' and '.join(wanted)}, but {mode}",
        field="network",
        hint=f"say {fix} to allow just those destinations, or drop {' and '.join(wanted)} to keep "
        f"the network {net}",
    )


def _check_patterns(opts: dict, allow: list[str], deny: list[str]) -> None:
    """Proxy mode: every pattern and pin must parse, here rather than when the proxy starts, so
    ``sandbox plan`` and ``sandbox run`` reject the same input (exit 2, the entry named)."""
    from cordon.netproxy.patterns import PatternError
    from cordon.netproxy.policy import NetPolicy

    try:
        NetPolicy.from_lists(allow, deny, dict(split_pin(r) for r in opts.get("resolve", [])))
    except PatternError as e:
        key = next(
            (k for k in ("deny_domains", "allow_domains") if e.pattern in opts.get(k, [])),
            "resolve" if "=" in e.pattern or e.pattern not in allow + deny else "rules",
        )
        raise ConfigError(
            f"invalid network pattern {e}",
            field=key,
            source=(opts.get(ORIGIN) or {}).get(key),
            hint=PATTERN_HINT if key != "rules" else "fix that network_rule in the rules file",
        ) from None


def to_policy(opts: dict):
    """Merged options -> a pydantic ``SandboxPolicy`` (for the library API and ``sandbox plan``)."""
    from cordon.sandbox.model import SandboxPolicy
    from pydantic import ValidationError

    kw = to_inputs(opts)
    kw = {k: v for k, v in kw.items() if v is not None}
    try:
        return SandboxPolicy(**kw)
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(err["msg"], field=".".join(str(x) for x in err["loc"])) from None
