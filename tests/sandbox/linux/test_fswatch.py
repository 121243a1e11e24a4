"""sandbox.linux.fswatch: a scan is reused only while the kernel reports nothing changed.

Each test changes the scanned tree the way an attacker or an administrator could, and checks
that the next ``get()`` sees the change. The positive controls show that the same change is
missed when the check that catches it is taken away, so these tests can fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cordon.sandbox import denylist
from cordon.sandbox.linux import fswatch, inner

REPO = Path(__file__).resolve().parents[3]


def _tree(tmp_path: Path) -> Path:
    top = tmp_path / "etc"
    (top / "ssl" / "private").mkdir(parents=True)
    (top / "ssl" / "private").chmod(0o700)
    (top / "ssl" / "cert.pem").write_text("public")
    (top / "hosts").write_text("public")
    (top / "conf.d").mkdir()
    (top / "conf.d" / "a.conf").write_text("public")
    return top


class Counting:
    """A WatchedScan of ``top`` that counts how often it really scanned."""

    def __init__(self, top: Path, *, entries: bool = True):
        self.top, self.scans, self.entries = str(top), 0, entries
        self.cache = fswatch.WatchedScan(self._scan)

    def _scan(self, watch):
        self.scans += 1
        if not self.entries:  # the control: directory watches only

            def watch(path, directory, _inner=watch):
                return _inner(path, directory) if directory else True

        return tuple(denylist.root_only_files(self.top, watch=watch))

    def get(self) -> list[str]:
        return list(self.cache.get())


def test_reused_while_nothing_changes(tmp_path):
    top = _tree(tmp_path)
    c = Counting(top)
    want = [str(top / "ssl" / "private")]
    assert c.get() == want and c.scans == 1  # the first: a plain scan
    assert c.get() == want and c.scans == 2  # the second places the watches
    for _ in range(5):
        assert c.get() == want
    assert c.scans == 2
    # Reading files or writing their contents changes nothing the scan looks at.
    (top / "hosts").read_text()
    (top / "hosts").write_text("public, longer")
    assert c.get() == want and c.scans == 2


@pytest.mark.parametrize(
    "change",
    ["chmod", "new-file", "new-dir", "rename-over", "chmod-dir", "remove", "replace-symlink"],
)
def test_every_change_that_matters_is_seen(tmp_path, change):
    top = _tree(tmp_path)
    c = Counting(top)
    c.get(), c.get()
    secret = top / "conf.d" / "a.conf"
    if change == "chmod":
        secret.chmod(0o600)
        want = str(secret)
    elif change == "new-file":
        p = top / "conf.d" / "new.key"
        p.write_text("k")
        p.chmod(0o640)
        want = str(p)
    elif change == "new-dir":
        p = top / "conf.d" / "vault"
        p.mkdir(mode=0o700)
        want = str(p)
    elif change == "rename-over":
        p = top / "staged"
        p.write_text("k")
        p.chmod(0o600)
        os.rename(p, top / "hosts")
        want = str(top / "hosts")
    elif change == "chmod-dir":
        (top / "conf.d").chmod(0o750)
        want = str(top / "conf.d")
    elif change == "remove":
        shutil.rmtree(top / "ssl" / "private")
        assert c.get() == [] and c.scans == 3
        return
    else:  # a symlink (skipped by the scan) replaced by a root-only file of the same name
        link = top / "conf.d" / "link"
        link.symlink_to("/etc/hostname")
        c.get()
        link.unlink()
        link.write_text("k")
        link.chmod(0o600)
        want = str(link)
    got = c.get()
    assert want in got, got


def test_a_chmod_through_a_hard_link_elsewhere_is_seen(tmp_path):
    """A hard link outside the scanned tree changes the inode without an event in any
    scanned directory: only the entry's own watch reports it."""
    top = _tree(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.link(top / "hosts", outside / "hosts-link")
    for entries, seen in ((True, True), (False, False)):  # False: the control, directory watches only
        (top / "hosts").chmod(0o644)
        c = Counting(top, entries=entries)
        c.get(), c.get()
        os.chmod(outside / "hosts-link", 0o600)
        assert (str(top / "hosts") in c.get()) is seen, entries


def test_a_link_made_after_the_scan_then_chmod_is_seen(tmp_path):
    top = _tree(tmp_path)
    c = Counting(top)
    c.get(), c.get()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.link(top / "hosts", outside / "hosts-link")  # the link itself is an event on the inode
    c.get()
    os.chmod(outside / "hosts-link", 0o600)
    assert str(top / "hosts") in c.get()


def test_a_failed_watch_means_no_reuse(tmp_path, monkeypatch):
    top = _tree(tmp_path)
    c = Counting(top)
    monkeypatch.setattr(fswatch._Watches, "add", lambda self, path, directory: False)
    for n in range(1, 5):
        c.get()
        assert c.scans == n


def test_a_forked_child_scans_again(tmp_path):
    top = _tree(tmp_path)
    c = Counting(top)
    c.get(), c.get()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its parent's watches (and queue) are not its own
        try:
            c.get()
            os.write(w, str(c.scans).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 16) == b"3"
    os.close(r)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root (in a private mount namespace)")
@pytest.mark.skipif(shutil.which("unshare") is None, reason="util-linux unshare is not installed")
def test_a_mount_over_a_scanned_directory_is_seen(tmp_path):
    """A mount generates no inotify event in the directory it covers; the mount table check
    catches it. Run in a private mount namespace: the host's mounts are left alone."""
    top = _tree(tmp_path)
    script = textwrap.dedent(
        f"""
        import os, subprocess, sys
        sys.path.insert(0, {str(REPO)!r})
        from cordon.sandbox import denylist
        from cordon.sandbox.linux import fswatch
        c = fswatch.WatchedScan(lambda w: tuple(denylist.root_only_files({str(top)!r}, watch=w)))
        c.get(); c.get()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "none", {str(top / "conf.d")!r}], check=True)
        p = os.path.join({str(top / "conf.d")!r}, "mounted.key")
        open(p, "w").close()
        os.chmod(p, 0o600)
        print(p in c.get())
        """
    )
    r = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"


# --- the native scan (cordon-inner --root-only): the same answer as denylist.root_only_files -------
NATIVE_VS_PYTHON = """
import json, sys
from pathlib import Path
from cordon.sandbox import denylist
from cordon.sandbox.linux import fswatch
from tests.sandbox.linux.test_fswatch import awkward_tree
top = Path(sys.argv[1])
awkward_tree(top)
native = fswatch.NativeScan(str(top)).result()
print(json.dumps([None if native is None else list(native), denylist.root_only_files(str(top))]))
"""
NO_NATIVE = "cordon-inner was not built (no C compiler at install)"


def awkward_tree(top: Path) -> None:
    """Every rule of the walk: modes, symlinks, transient names, names that are not UTF-8."""
    (top / "open" / "deeper").mkdir(parents=True)
    for rel, mode in [
        ("open/public.conf", 0o644),
        ("open/key.pem", 0o600),
        ("open/group-only", 0o640),
        ("open/deeper/token", 0o400),
        ("open/exec-only", 0o711),
        ("shadow+", 0o600),  # transient: skipped by both
        ("shadow.lock", 0o600),
        ("shadow.1234", 0o600),
        ("x.tmp", 0o600),
        (".#edit", 0o600),
        ("name.", 0o600),  # an empty extension is not a number: hidden
        ("name.12a", 0o600),
        ("name.\u00b2", 0o600),  # a superscript two is no ASCII digit: hidden
    ]:
        p = top / rel
        p.write_text("x")
        p.chmod(mode)
    os.mkfifo(top / "open" / "fifo", 0o600)
    (top / "closed").mkdir()
    (top / "closed" / "inside").write_text("x")
    (top / "closed").chmod(0o750)  # others cannot list it: hidden whole, not entered
    (top / "listable-only").mkdir()
    (top / "listable-only").chmod(0o754)  # others can read but not enter it: hidden whole
    os.symlink(top / "closed", top / "link-to-closed")  # symlinks: judged where they point
    os.symlink("/etc/shadow", top / "link-to-shadow")
    raw = os.fsencode(str(top)) + b"/not-utf8-\xff"
    with open(raw, "wb"):
        pass
    os.chmod(raw, 0o600)


@pytest.mark.skipif(inner.native_helper() is None, reason=NO_NATIVE)
def test_the_native_scan_finds_what_the_python_scan_finds(identity):
    top = identity.workspace / f"etc-{os.getpid()}"
    r = identity.run([sys.executable, "-c", NATIVE_VS_PYTHON, str(top)])
    assert r.returncode == 0, r.stderr
    native, python = json.loads(r.stdout)
    assert native == python, (native, python)
    # A real answer: the rules above were all exercised.
    assert {f"{top}/open/key.pem", f"{top}/closed", f"{top}/listable-only", f"{top}/name.\u00b2"} <= set(
        python
    )
    assert not any(p.endswith(("inside", "+", ".lock", ".1234", ".tmp", "link-to-closed")) for p in python)


def test_the_native_scan_answers_nothing_rather_than_part(tmp_path):
    """A helper that fails, or writes anything but whole records, gives no answer (the launcher
    then scans in Python), never a partial or garbled list."""
    assert fswatch.NativeScan(str(tmp_path), helper="/bin/false").result() is None
    assert fswatch.NativeScan(str(tmp_path), helper="/bin/echo").result() is None  # no NUL records
    (tmp_path / "k").write_text("x")
    (tmp_path / "k").chmod(0o600)
    if inner.native_helper() is not None:  # the control: the real helper answers
        assert fswatch.NativeScan(str(tmp_path)).result() == (str(tmp_path / "k"),)
