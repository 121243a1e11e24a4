"""``sandbox learn`` (issue 19): the smallest config, learned from denials, as root and as the
test user; it never proposes /, a secret or a parent of one, and --check replays it."""

from __future__ import annotations

import os
import shutil
import tomllib
import uuid

import pytest

pytestmark = pytest.mark.sandbox


@pytest.fixture
def place(identity):
    base = identity.home / f".cordon-learn-{uuid.uuid4().hex[:8]}"
    for d in (base, base / "out", base / ".ssh"):
        d.mkdir()
        os.chown(d, identity.uid, identity.gid)
    (base / ".ssh" / "id_test").write_text("SECRET\n")
    os.chown(base / ".ssh" / "id_test", identity.uid, identity.gid)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_learn_proposes_exactly_the_directory_and_the_job_then_succeeds(identity, place) -> None:
    out = place / "out"
    toml = identity.workspace / "learned.toml"
    job = f"echo built > {out}/artifact && cat {place}/.ssh/id_test; echo built > {place}/top-level; test -f {out}/artifact"
    env = identity.env(HOME=str(place))
    # positive control: without the sandbox the job succeeds
    assert identity.run(["sh", "-c", job], env=env).returncode == 0
    (out / "artifact").unlink()
    (place / "top-level").unlink()
    # confined, it fails (the write outside the workspace is denied)
    blocked = identity.run(identity.sandbox_argv("run", "--", "sh", "-c", job), env=env)
    assert blocked.returncode != 0 and not (out / "artifact").exists()

    r = identity.run(
        identity.sandbox_argv("learn", "--output", str(toml), "--check", "--", "sh", "-c", job), env=env
    )
    assert r.returncode == 0, r.stderr
    data = tomllib.loads(toml.read_text())
    assert data == {"writable_roots": [str(out)]}, toml.read_text()
    text = toml.read_text()
    assert f"# write {out}/artifact (mount: outside the writable roots" in text  # a comment per entry
    # refused, and listed: the secret, and the home holding it (a parent of a secret)
    assert f"read {place}/.ssh/id_test: a hidden secret" in text
    assert f"write {place}/top-level: {place} is or holds a secret ({place}/.ssh)" in text
    assert "--check passed" in r.stderr

    (out / "artifact").unlink()
    again = identity.run(
        identity.sandbox_argv("run", "--config", str(toml), "--", "sh", "-c", f"echo built > {out}/artifact"),
        env=env,
    )
    assert again.returncode == 0, again.stderr
    assert (out / "artifact").read_text() == "built\n"
    # ...and still no more than that: the secret stays hidden under the learned config
    still = identity.run(
        identity.sandbox_argv("run", "--config", str(toml), "--", "cat", f"{place}/.ssh/id_test"), env=env
    )
    assert still.returncode != 0 and "SECRET" not in still.stdout


def test_learn_never_proposes_root_and_check_reports_what_remains(identity) -> None:
    toml = identity.workspace / "l.toml"
    r = identity.run(
        identity.sandbox_argv("learn", "--output", str(toml), "--", "sh", "-c", "echo x > /x; true")
    )
    assert r.returncode == 0, r.stderr
    text = toml.read_text()
    assert "writable_roots" not in text and "danger-full-access" not in text
    assert "write /x: / as a writable root is no sandbox at all" in text


def test_learn_usage_errors(identity) -> None:
    r = identity.run(identity.sandbox_argv("learn", "--output", "/nonexistent/dir/x.toml", "--", "true"))
    assert r.returncode == 2 and "cannot write" in r.stderr
    r = identity.run(identity.sandbox_argv("learn", "--output", "x.toml"))
    assert r.returncode == 2 and "no command given" in r.stderr
