"""releng.server.transport: the local and SFTP transports behave alike (against a real sshd), and paths are checked."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from releng.errors import BadInput
from releng.server import connect, pool, transport
from releng.server.local import LocalTransport
from releng.server.transport import TransportError
from testkit import LoggingTransport


@pytest.mark.parametrize("rel", ["a", "a/b", "releases/1.0.0/x.tar.gz", "channels/.lock", ""])
def test_check_rel_accepts(rel):
    assert transport.check_rel(rel) == rel


@pytest.mark.parametrize("rel", ["/etc", "a/../b", "..", "a//b", "a/", "./a", "a/\0b"])
def test_check_rel_refuses(rel):
    with pytest.raises(BadInput):
        transport.check_rel(rel)


@pytest.fixture(params=["local", "sftp"])
def server(request, tmp_path):
    """The same root reached both ways: a LocalTransport and an SftpTransport through the session sshd."""
    if request.param == "local":
        root = tmp_path / "root"
        root.mkdir()
        yield LocalTransport("local", root), root
        return
    from releng.server.sftp import SftpTransport

    sshd = request.getfixturevalue("sshd")
    root = sshd.fresh_root("transport")
    t = SftpTransport("sftp", host=sshd.host, port=sshd.port, user=sshd.user, root=str(root),
                      known_hosts=str(sshd.known_hosts), key_file=str(sshd.client_key), base_url="https://u.example")
    yield t, root
    t.close()


def test_mkdir_is_a_mutex_and_listdir(server):
    t, root = server
    assert t.mkdir("a") is True
    assert t.mkdir("a") is False
    transport.mkdirs(t, "a/b/c")
    assert t.listdir("a") == ["b"]
    assert t.listdir("missing") == []
    assert t.stat("a/b").is_dir and t.stat("nope") is None


def test_put_file_resumes_from_the_partial_file(server, tmp_path):
    t, root = server
    data = os.urandom(3 * transport.CHUNK + 17)
    local = tmp_path / "f.bin"
    local.write_bytes(data)
    (root / "f.bin").write_bytes(data[:100_000])
    up = t.put_file(local, "f.bin")
    assert up.bytes_sent == len(data) - 100_000 and t.bytes_sent == up.bytes_sent
    assert up.sha256 == hashlib.sha256(data).hexdigest()
    assert (root / "f.bin").read_bytes() == data
    assert t.hash_file("f.bin") == (len(data), up.sha256)
    assert t.put_file(local, "f.bin").bytes_sent == 0  # complete already


def test_put_file_restarts_when_the_partial_file_is_not_a_prefix(server, tmp_path):
    t, root = server
    data = os.urandom(500_000)
    local = tmp_path / "f.bin"
    local.write_bytes(data)
    (root / "f.bin").write_bytes(b"x" * 200_000)  # same length as a prefix, other bytes
    up = t.put_file(local, "f.bin")
    assert up.bytes_sent == len(data)
    assert (root / "f.bin").read_bytes() == data
    (root / "f.bin").write_bytes(data + b"longer")
    assert t.put_file(local, "f.bin").bytes_sent == len(data)
    assert (root / "f.bin").read_bytes() == data


def test_write_atomic_and_read_bytes(server):
    t, root = server
    transport.write_atomic(t, "m.json", b"one")
    transport.write_atomic(t, "m.json", b"two")
    assert t.read_bytes("m.json") == b"two"
    assert sorted(os.listdir(root)) == ["m.json"]  # no temp file left
    with pytest.raises(TransportError):
        t.read_bytes("m.json", limit=2)


def test_rename_noreplace_refuses_an_existing_folder(server):
    t, root = server
    transport.mkdirs(t, "in/a")
    transport.mkdirs(t, "in/b")
    transport.mkdirs(t, "out")
    t.rename_noreplace("in/a", "out/v")
    with pytest.raises(TransportError):
        t.rename_noreplace("in/b", "out/v")
    assert (root / "in" / "b").is_dir()


def test_switch_symlink_replaces_the_link(server):
    t, root = server
    transport.mkdirs(t, "releases/1.0.0")
    transport.mkdirs(t, "releases/1.1.0")
    transport.switch_symlink(t, "1.0.0", "releases/latest")
    transport.switch_symlink(t, "1.1.0", "releases/latest")
    assert os.readlink(root / "releases" / "latest") == "1.1.0" == t.readlink("releases/latest")
    assert sorted(os.listdir(root / "releases")) == ["1.0.0", "1.1.0", "latest"]


def test_lock_waits_then_gives_up(server):
    t, _ = server
    with transport.lock(t, "L"):
        started = time.monotonic()
        with pytest.raises(TransportError, match="held by another"), transport.lock(t, "L", wait=0.2):
            pass
        assert time.monotonic() - started >= 0.2
    with transport.lock(t, "L"):
        pass


def test_latest_is_never_unlinked_then_recreated(tmp_path):
    """docs/security-properties.md #6: the call log shows a new link renamed over `latest`, never a remove of it."""
    t = LoggingTransport("log", tmp_path)
    transport.mkdirs(t, "releases")
    t.calls.clear()
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        transport.switch_symlink(t, v, "releases/latest")
    assert not [c for c in t.calls if c[0] in ("remove", "rmdir")]
    assert [c[0] for c in t.calls] == ["symlink", "posix_rename"] * 3
    assert all(c[2] == "releases/latest" for c in t.calls if c[0] == "posix_rename")


def switch_while_polling(t: transport.Transport, switches: int, targets: tuple[str, str],
                         look: Callable[[], None]) -> None:
    """Switch releases/latest `switches` times, alternating between the two `targets`, while a thread calls `look`
    over and over (what `look` records is what a poller saw mid-switch); returns once the poller has stopped."""
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            look()

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        for i in range(switches):
            transport.switch_symlink(t, targets[i % 2], "releases/latest")
    finally:
        done.set()
        poller.join()


def test_latest_always_resolves_during_1000_switches(tmp_path):
    """docs/security-properties.md #6: a poller over 1000 switches never sees `latest` missing."""
    t = LocalTransport("local", tmp_path)
    for v in ("1.0.0", "1.1.0"):
        transport.mkdirs(t, f"releases/{v}")
        (tmp_path / "releases" / v / "f").write_text(v)
    transport.switch_symlink(t, "1.0.0", "releases/latest")
    misses, reads = [], [0]

    def look() -> None:
        try:
            (tmp_path / "releases" / "latest" / "f").read_text()
            reads[0] += 1
        except OSError as e:
            misses.append(e)

    switch_while_polling(t, 1000, ("1.0.0", "1.1.0"), look)
    assert misses == [] and reads[0] > 0


def test_sftp_switches_latest_while_a_poller_reads(sshd, tmp_path):
    from releng.server.sftp import SftpTransport

    root = sshd.fresh_root("latest")
    t = SftpTransport("sftp", host=sshd.host, port=sshd.port, user=sshd.user, root=str(root),
                      known_hosts=str(sshd.known_hosts), key_file=str(sshd.client_key), base_url="https://u.example")
    for v in ("1.0.0", "1.1.0"):
        transport.mkdirs(t, f"releases/{v}")
    transport.switch_symlink(t, "1.0.0", "releases/latest")
    misses = []

    def look() -> None:
        if not (root / "releases" / "latest").is_dir():
            misses.append(1)

    switch_while_polling(t, 200, ("1.1.0", "1.0.0"), look)
    t.close()
    assert misses == []
    assert sorted(os.listdir(root / "releases")) == ["1.0.0", "1.1.0", "latest"]


# --- transport_pool.reusing(): one connection per server for a job made of several steps ---------------------------


def ssh_connections(sshd) -> set[str]:
    """The client ends (address:port) of the connections to the session's sshd the kernel holds open (/proc/net/tcp,
    ESTABLISHED): one per SSH session. Compare sets: a transport closed just before may linger for a moment."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        pytest.skip("/proc/net/tcp is not available")
    port = f":{sshd.port:04X}"
    return {f[1] for row in table.read_text().splitlines()[1:] if (f := row.split())[2].endswith(port) and f[3] == "01"}


def wait_until(condition) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def sftp_spec(sshd) -> dict:
    return {"name": "mirror", "transport": "sftp", "host": sshd.host, "port": sshd.port, "user": sshd.user,
            "key_file": str(sshd.client_key), "known_hosts": str(sshd.known_hosts),
            "root": str(sshd.fresh_root("pool")), "base_url": "https://u.example"}


def local_spec(tmp_path: Path) -> dict:
    return {"name": "local", "transport": "local", "root": str(tmp_path / "local")}


def test_reusing_shares_one_ssh_connection_per_server_and_closes_them_at_its_end(sshd, tmp_path):
    spec, local = sftp_spec(sshd), local_spec(tmp_path)
    before = ssh_connections(sshd)
    with pool.reusing():
        first = connect.open_server(spec)
        transport.write_atomic(first, "m.json", b"one")
        first.close()  # a step ends: the connection stays for the next step
        again = connect.open_server(spec, create=False)
        assert again is first and again.read_bytes("m.json") == b"one"
        with pool.reusing():  # a nested block joins the outer pool
            assert connect.open_server(spec) is first
        assert len(ssh_connections(sshd) - before) == 1
        here = connect.open_server(local)
        assert connect.open_server(local) is here and here is not first
        other = connect.open_server({**spec, "name": "other"})  # another servers[] entry: its own connection
        assert other is not first and len(ssh_connections(sshd) - before) == 2
    wait_until(lambda: not ssh_connections(sshd) - before)
    with pytest.raises(TransportError):
        first.read_bytes("m.json")  # the block's end closed it


def test_outside_reusing_each_open_is_its_own_connection_and_close_closes(sshd):
    """What rollback-release and publish-release do: unchanged by the pool."""
    spec = sftp_spec(sshd)
    before = ssh_connections(sshd)
    a, b = connect.open_server(spec), connect.open_server(spec)
    assert a is not b and len(ssh_connections(sshd) - before) == 2
    a.close()
    with pytest.raises(TransportError):
        a.stat("")
    assert b.stat("") is not None
    b.close()
    wait_until(lambda: not ssh_connections(sshd) - before)


def test_a_server_that_went_away_is_not_handed_out_again(tmp_path):
    """A pooled server that stopped answering is dropped: the fresh connect fails as it would without the pool (so
    the caller reports it unreachable), each later open tries again, and one that is back is used."""
    local = local_spec(tmp_path)
    root = Path(local["root"])
    root.mkdir()
    with pool.reusing():
        gone = connect.open_server(local, create=False)
        root.rmdir()
        for _ in range(2):
            with pytest.raises(TransportError, match="not a folder"):
                connect.open_server(local, create=False)
        root.mkdir()
        back = connect.open_server(local, create=False)
        assert back is not gone and back.stat("") is not None
        assert connect.open_server(local) is back


def test_another_thread_does_not_share_the_pool(tmp_path):
    local = local_spec(tmp_path)
    with pool.reusing():
        mine = connect.open_server(local)
        theirs = []
        worker = threading.Thread(target=lambda: theirs.append(connect.open_server(local)))
        worker.start()
        worker.join()
        assert theirs[0] is not mine and isinstance(theirs[0], LocalTransport)
