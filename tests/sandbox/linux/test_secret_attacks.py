"""Secrets beyond the fixed lists, and sockets the environment names: each read or connect is
attempted from a real ``sandbox run`` as root and as the unprivileged account, and the same
operation is shown to work unconfined (or with the documented opt-in), so a pass means the
sandbox stopped it.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from tests.sandbox.linux.confine_support import ops_argv, parse_ops, sandbox_run

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(
        sys.platform != "linux" or shutil.which("bwrap") is None, reason="needs Linux and bubblewrap"
    ),
]


def ops(identity, *specs: str, flags=(), env=None) -> dict[str, str]:
    r = sandbox_run(identity, *flags, cmd=ops_argv(*specs), env=env)
    assert r.returncode == 0, f"sandbox run failed ({r.returncode}): {r.stderr}"
    got = parse_ops(r.stdout)
    assert set(got) == set(specs), (got, r.stderr)
    return got


def unconfined(identity, *specs: str, env=None) -> dict[str, str]:
    r = identity.run(ops_argv(*specs), env=env)
    return parse_ops(r.stdout)


def owned(identity, p: Path, text: str | None = None, mode: int = 0o600) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    for q in [*reversed(p.relative_to(identity.home).parents)][1:]:
        os.chown(identity.home / q, identity.uid, identity.gid)
    if text is not None:
        p.write_text(text)
        p.chmod(mode)
        os.chown(p, identity.uid, identity.gid)
    return p


# --- credential stores the issue lists (a sample across the groups) -------------------------------
STORES = [
    ".pgpass",
    ".my.cnf",
    ".vault-token",
    ".cargo/credentials.toml",
    ".config/rclone/rclone.conf",
    ".m2/settings.xml",
    ".gradle/gradle.properties",
    ".terraform.d/credentials.tfrc.json",
    ".gem/credentials",
    ".config/hub",
    ".claude/.credentials.json",
    ".bash_history",
    ".password-store/bank.gpg",
    ".local/share/keyrings/login.keyring",
    ".mozilla/firefox/p/logins.json",
    ".s3cfg",
    ".config/composer/auth.json",
]


@pytest.fixture
def stores(identity):
    """Fake credentials at each listed place (skipped where a real one exists: never touched)."""
    made: list[Path] = []
    planted = [identity.home / rel for rel in STORES if not (identity.home / rel).exists()]
    if len(planted) < len(STORES) // 2:
        pytest.skip("most listed credential stores exist on this machine; not touching real ones")
    for p in planted:
        missing = [q for q in [*reversed(p.parents)] if identity.home in q.parents and not q.exists()]
        for q in missing:
            q.mkdir()
            os.chown(q, identity.uid, identity.gid)
            made.append(q)
        p.write_text("SECRET\n")
        p.chmod(0o600)
        os.chown(p, identity.uid, identity.gid)
        made.append(p)
    yield planted
    for p in reversed(made):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def test_credential_stores_are_hidden(identity, stores):
    specs = [f"read:{p}" for p in stores]  # (real ones present on this machine are left alone)
    got = ops(identity, *specs)
    assert all(v != "ok" for v in got.values()), got
    free = unconfined(identity, *specs)
    assert all(v == "ok" for v in free.values()), free  # control: readable unconfined


def test_files_the_environment_points_at_are_hidden(identity):
    d = owned(identity, identity.home / f".cordon-creds-{uuid.uuid4().hex[:8]}" / "x", None).parent
    d.mkdir(exist_ok=True)
    os.chown(d, identity.uid, identity.gid)
    try:
        files = {
            "GOOGLE_APPLICATION_CREDENTIALS": d / "sa.json",
            "AWS_SHARED_CREDENTIALS_FILE": d / "aws-creds",
            "KUBECONFIG": d / "kube-a",
        }
        for p in files.values():
            owned(identity, p, "SECRET\n")
        kube_b = owned(identity, d / "kube-b", "SECRET\n")
        docker = d / "docker"
        owned(identity, docker / "config.json", "SECRET\n")
        env = identity.env(
            GOOGLE_APPLICATION_CREDENTIALS=str(files["GOOGLE_APPLICATION_CREDENTIALS"]),
            AWS_SHARED_CREDENTIALS_FILE=str(files["AWS_SHARED_CREDENTIALS_FILE"]),
            KUBECONFIG=f"{files['KUBECONFIG']}:{kube_b}",
            DOCKER_CONFIG=str(docker),
        )
        specs = [f"read:{p}" for p in (*files.values(), kube_b, docker / "config.json")]
        got = ops(identity, *specs, env=env)
        assert all(v != "ok" for v in got.values()), got
        assert all(v == "ok" for v in unconfined(identity, *specs, env=env).values())
        # --no-default-deny-read is the documented way back.
        got = ops(identity, *specs, env=env, flags=("--no-default-deny-read",))
        assert all(v == "ok" for v in got.values()), got
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- variables ----------------------------------------------------------------------------------
SECRET_VARS = {
    "PGPASSWORD": "hunter2hunter2",
    "MYSQL_PWD": "hunter2hunter2",
    "DB_PASSWORD": "hunter2hunter2",
    "LDAP_PASSWD": "hunter2hunter2",
    "NPM_CONFIG__AUTH": "dXNlcjpwYXNz",
    "GOOGLE_APPLICATION_CREDENTIALS_JSON": "{}",
    "DATABASE_URL": "postgres://app:s3cr3tpw@db.internal:5432/app",
    "REDIS_URL": "redis://:s3cr3tpw@cache:6379/0",
    "SLACK_HOOK": "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
    "MSSQL_CONN": "Server=db;Database=app;User Id=sa;Password=s3cr3tpw;",
    "PG_DSN": "host=db user=app password=s3cr3tpw dbname=app",
    "SESSION": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
    "GH": "ghp_0123456789abcdefghijABCDEFGHIJ012345",
}
KEPT_VARS = {
    "GIT_AUTHOR_NAME": "Ada",
    "PUBLIC_URL": "https://example.org/app",
    "GIT_REMOTE": "ssh://git@github.com/o/r.git",
    "AUTHOR": "someone",
}


def test_password_style_variables_and_secret_values_are_dropped(identity):
    env = identity.env(**SECRET_VARS, **KEPT_VARS)
    specs = [f"env:{k}" for k in (*SECRET_VARS, *KEPT_VARS)]
    got = ops(identity, *specs, env=env)
    leaked = [k for k in SECRET_VARS if got[f"env:{k}"] == "ok"]
    assert leaked == [], leaked
    assert all(got[f"env:{k}"] == "ok" for k in KEPT_VARS), got
    # Control: the documented opt-out lets every one through (so the filter is what removed them).
    got = ops(identity, *specs, env=env, flags=("--env-ignore-default-excludes",))
    assert all(v == "ok" for v in got.values()), got


# --- sockets named by the environment ------------------------------------------------------------
AGENT_ENV = {
    "ssh": ("SSH_AUTH_SOCK", "{p}"),
    "docker": ("DOCKER_HOST", "unix://{p}"),
    "docker2": ("CONTAINER_HOST", "unix://{p}"),
    "dbus": ("DBUS_SESSION_BUS_ADDRESS", "unix:path={p},guid=0123456789abcdef0123456789abcdef"),
    "gpg": ("GPG_AGENT_INFO", "{p}:0:1"),
}


@pytest.mark.parametrize("kind", list(AGENT_ENV))
def test_sockets_named_by_the_environment_are_masked(identity, unix_listener, kind):
    var, fmt = AGENT_ENV[kind]
    env = identity.env(**{var: fmt.format(p=unix_listener)})
    specs = [f"unix:{unix_listener}", f"env:{var}"]
    got = ops(identity, *specs, env=env, flags=("--network", "on"))
    assert got[f"unix:{unix_listener}"] != "ok" and got[f"env:{var}"] != "ok", got
    assert all(v == "ok" for v in unconfined(identity, *specs, env=env).values())  # control
    # The explicit opt-in gives both back.
    agent = kind.rstrip("2")
    got = ops(identity, *specs, env=env, flags=("--network", "on", "--allow-agent", agent))
    assert all(v == "ok" for v in got.values()), got


def test_gpg_unix_listener_under_gnupghome_is_masked(identity, unix_listener):
    env = identity.env(GNUPGHOME=str(unix_listener.parent))
    gpg = unix_listener.parent / "S.gpg-agent"
    os.rename(unix_listener, gpg)
    got = ops(identity, f"unix:{gpg}", env=env, flags=("--network", "on"))
    assert got[f"unix:{gpg}"] != "ok", got
    assert unconfined(identity, f"unix:{gpg}", env=env)[f"unix:{gpg}"] == "ok"


# --- root launches: files only root may read -------------------------------------------------------
@pytest.fixture
def etc_secret():
    if os.geteuid() != 0:
        pytest.skip("planting a root-only file under /etc needs root")
    p = Path("/etc") / f"cordon-test-secret-{uuid.uuid4().hex[:8]}"
    p.write_text("ROOT-ONLY\n")
    p.chmod(0o600)
    yield p
    p.unlink(missing_ok=True)


def test_root_only_files_under_etc_are_hidden(identity, etc_secret):
    specs = [f"read:{etc_secret}"]
    if Path("/etc/ssl/private").is_dir():
        specs.append("list:/etc/ssl/private")
    got = ops(identity, *specs)
    assert all(v != "ok" for v in got.values()), got  # root: masked; the user: not its file
    free = unconfined(identity, *specs)
    if identity.is_root:
        assert all(v == "ok" for v in free.values()), free  # control: root reads it unconfined
    else:
        assert all(v != "ok" for v in free.values()), free  # DAC keeps it from the user anyway


@pytest.fixture
def etc_secret_later():
    """Planted by the test while an agent process runs (after its first launches)."""
    p = Path("/etc") / f"cordon-test-later-{uuid.uuid4().hex[:8]}"
    yield p
    p.unlink(missing_ok=True)


# One process launching many sandboxes (an agent), as the test identity: two launches (the second
# keeps the /etc scan, sandbox/linux/fswatch.py), one that attacks the kept scan from inside,
# then reads after the attack and after the host has planted a new root-only file.
AGENT = """
import json, os, sys
from cordon.sandbox import run
from cordon.sandbox.linux import fswatch
ws, ops_argv = sys.argv[1], json.loads(sys.argv[2])
def ops(*specs):
    r = run([*ops_argv, *specs], cwd=ws, text=True)
    assert r.returncode == 0, r.stderr
    return dict(line.rsplit(" ", 1) for line in r.stdout.splitlines())
out = {}
run(["true"], cwd=ws), run(["true"], cwd=ws)
secret, later = sys.argv[3], sys.argv[4]
link = os.path.join(ws, "secret-link")
out["attack"] = ops(f"chmod:{secret}", f"hardlink:{secret}:{link}", f"chmod:{link}", "write:/etc/cordon-attack")
out["after_attack"] = ops(f"read:{secret}")
print("planted?", flush=True)
sys.stdin.readline()
out["after_plant"] = ops(f"read:{later}", f"read:{secret}")
out["scans"] = fswatch.ROOT_ONLY._scans
print(json.dumps(out), flush=True)
"""


def test_a_kept_etc_scan_never_weakens_the_next_launch(identity, etc_secret, etc_secret_later):
    """The root-only scan an in-process launcher keeps between launches cannot be turned
    against the next launch from inside a sandbox, and what the host changes between two
    launches is seen: the file planted between them is hidden at once."""
    import json

    from tests.sandbox.linux.confine_support import ops_argv

    argv = [sys.executable, "-c", AGENT, str(identity.workspace), json.dumps(ops_argv())]
    argv += [str(etc_secret), str(etc_secret_later)]
    p = identity.popen(argv)
    assert p.stdout.readline().strip() == "planted?", p.communicate(timeout=60)
    etc_secret_later.write_text("ROOT-ONLY LATER\n")
    etc_secret_later.chmod(0o600)
    stdout, stderr = p.communicate("go\n", timeout=120)
    assert p.returncode == 0, stderr
    got = json.loads(stdout)
    assert all(v != "ok" for v in got["attack"].values()), got  # /etc is read-only, the file hidden
    assert etc_secret.stat().st_mode & 0o777 == 0o600
    assert got["after_attack"][f"read:{etc_secret}"] != "ok", got
    assert all(v != "ok" for v in got["after_plant"].values()), got
    free = unconfined(identity, f"read:{etc_secret}", f"read:{etc_secret_later}")
    if identity.is_root:
        assert all(v == "ok" for v in free.values()), free  # control: root reads both unconfined
        assert got["scans"] >= 3, got  # kept after the second launch, scanned again once planted
    else:
        assert all(v != "ok" for v in free.values()), free  # DAC keeps them from the user anyway
        assert got["scans"] == 0, got  # the user's launches do not hide root-only files


# --- the empty file every file mask binds (assemble.EMPTY_DIRS) ------------------------------------
def test_a_swapped_mask_file_never_shows_through(identity, stores):
    """Every hidden file is covered by one empty mode-0000 file in Cordon's cache, which bwrap
    binds from a descriptor the launcher checked. Swapped for a symlink to readable content, or
    filled and opened up, it would show that content wherever a secret is hidden: the launch
    moves it aside and makes a fresh one."""
    cache = identity.xdg / "cache" / "cordon"
    secret = stores[0]
    ops(identity, f"read:{secret}")  # a first launch makes the mask file
    mask = cache / "empty-file-000"
    assert mask.is_file() and mask.stat().st_size == 0 and mask.stat().st_mode & 0o777 == 0
    leak = owned(identity, identity.home / "leak.txt", "LEAKED-THROUGH-THE-MASK\n", 0o644)
    for swap in ("symlink", "filled"):
        mask.unlink()
        if swap == "symlink":
            mask.symlink_to(leak)
        else:
            mask.write_text("LEAKED-THROUGH-THE-MASK\n")
            mask.chmod(0o644)
        os.lchown(mask, identity.uid, identity.gid)
        r = sandbox_run(identity, cmd=["cat", str(secret)])
        assert "LEAKED" not in r.stdout, (swap, r.stdout)
        assert mask.is_file() and not mask.is_symlink() and mask.stat().st_size == 0, swap
        assert any(p.name.startswith("empty-file-000.bad.") for p in cache.iterdir()), swap
        for bad in cache.glob("empty-file-000.bad.*"):
            bad.unlink()
    # The control: the planted content is readable where it was put.
    assert unconfined(identity, f"read:{leak}")[f"read:{leak}"] == "ok"


def test_a_mask_file_changed_after_the_check_is_refused(identity, stores, monkeypatch):
    """Between start's check and bubblewrap's bind, the mask file is checked once more on the
    descriptor bwrap binds: a file filled in that window makes the launch fail (SandboxError,
    exit 125 from the CLI), never show through."""
    if not identity.is_root:
        pytest.skip("the launch runs in this test's process (root); the user's launches are above")
    from cordon.sandbox import SandboxPolicy, run
    from cordon.sandbox.errors import SandboxError
    from cordon.sandbox.linux import assemble

    cache = identity.xdg / "cache" / "cordon"
    monkeypatch.setenv("XDG_CACHE_HOME", str(identity.xdg / "cache"))
    real = assemble.make_empty_dirs

    def then_filled(paths):
        real(paths)
        with open(paths[2], "w") as f:  # the window between start's check and the spawn
            f.write("LEAKED-THROUGH-THE-MASK\n")

    monkeypatch.setattr(assemble, "make_empty_dirs", then_filled)
    with pytest.raises(SandboxError, match="empty-file-000 is no longer an empty mode-0000 file"):
        run(["cat", str(stores[0])], policy=SandboxPolicy(), cwd=str(identity.workspace), text=True)
    (cache / "empty-file-000").unlink()
    monkeypatch.setattr(assemble, "make_empty_dirs", real)  # the control: made afresh, it works again
    r = run(["cat", str(stores[0])], policy=SandboxPolicy(), cwd=str(identity.workspace), text=True)
    assert r.returncode != 125 and "LEAKED" not in r.stdout, (r.returncode, r.stderr)
