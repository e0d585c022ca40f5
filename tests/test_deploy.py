"""Deploying a new release to a Pi, with v1 running: scripts/deploy_edge.py, run as the workflow runs it.

A folder in tmp_path stands in for the Pi: /opt/goatdev, /etc/goatdev (config and secrets), /var/lib/goatdev
(data) and the units in /etc/systemd/system. Each release is a .tar.gz built here holding a tiny fake
package: its self-check passes or fails, and its "daemon", which the fake restart command starts from
`current` as systemd would, answers /api/health with 200, or 500 for a release that starts but is broken.
The fakes stand in for pip, `goat-edge self-check` and systemd; what is tested is the deploy's logic.
Not tested here: a real Pi, systemd, pip, or the real self-check.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shlex
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "deploy_edge.py"
PY = shlex.quote(sys.executable)
QUICK_INSTALL = "mkdir -p .venv && echo ok > .venv/installed"
EXIT_OK, EXIT_NOT_SWITCHED, EXIT_REFUSED, EXIT_ROLLED_BACK, EXIT_BROKEN, EXIT_LOCKED = range(6)

FAKE_DAEMON = """\
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

release = Path(__file__).resolve().parent
healthy = (release / "behaviour").read_text().strip() != "unhealthy"


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"release": release.name}).encode()
        self.send_response(200 if healthy else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""

FAKE_SELF_CHECK = """\
import sys
from pathlib import Path

release = Path(__file__).resolve().parent
Path(sys.argv[1]).read_text()  # the config, read as goat-edge self-check reads it
problems = []
if not (release / ".venv" / "installed").is_file():
    problems.append("venv: not installed")
if (release / "behaviour").read_text().strip() == "fails-self-check":
    problems.append("camera side: not found")
print("\\n".join(problems) or "all fine")
sys.exit(1 if problems else 0)
"""

# Stands in for `systemctl restart goat-edge`: stops the running daemon, starts current's, and returns
# once it listens, as systemctl returns once a Type=notify service says READY.
FAKE_RESTART = """\
import os, signal, socket, subprocess, sys, time
from pathlib import Path

root, run_dir, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
pidfile = run_dir / "daemon.pid"


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


if pidfile.exists():
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    while alive(pid):
        time.sleep(0.01)
with open(run_dir / "daemon.log", "a") as log:
    daemon = subprocess.Popen([sys.executable, str(root / "current" / "fake_daemon.py"), str(port)],
                              stdout=log, stderr=log, start_new_session=True)
pidfile.write_text(str(daemon.pid))
deadline = time.monotonic() + 10
while time.monotonic() < deadline and daemon.poll() is None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.02)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    """Running, not a zombie: an orphan nobody has reaped yet counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_for(condition, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def build_release(where: Path, version: str, behaviour: str = "good") -> Path:
    """A release archive as the workflow's git archive makes it: the project at the top, no prefix."""
    files = {
        "pyproject.toml": f'[project]\nname = "goatdev"\nversion = "{version}"\n',
        "behaviour": behaviour,
        "fake_daemon.py": FAKE_DAEMON,
        "self_check.py": FAKE_SELF_CHECK,
        "edge/__init__.py": "",
    }
    archive = where / f"goatdev-{version}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(data), 0o664  # git archive's modes, group-writable
            tar.addfile(member, io.BytesIO(data))
    return archive


@dataclass
class Pi:
    """The stand-in Pi, and how the workflow would call the deploy script on it."""

    base: Path
    port: int
    data_and_config_at_start: dict[str, bytes] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.base / "opt" / "goatdev"

    @property
    def archives(self) -> Path:
        """Where the workflow's archives are built: beside the Pi, not on it."""
        return self.base.parent / "archives"

    @property
    def config_dir(self) -> Path:
        return self.base / "etc" / "goatdev"

    @property
    def data_dir(self) -> Path:
        return self.base / "var" / "lib" / "goatdev"

    @property
    def unit_dir(self) -> Path:
        return self.base / "etc" / "systemd" / "system"

    @property
    def run_dir(self) -> Path:
        return self.base / "run"

    def restart_cmd(self) -> str:
        restart = shlex.quote(str(self.base / "restart.py"))
        return f"{PY} {restart} {shlex.quote(str(self.root))} {shlex.quote(str(self.run_dir))} {self.port}"

    def command(self, version, archive=None, *, install_cmd=QUICK_INSTALL, restart_cmd=None, health_timeout_s=10.0):
        config = shlex.quote(str(self.config_dir / "edge.toml"))
        command = [sys.executable, str(SCRIPT), "--root", str(self.root), "--version", version]
        command += ["--unit-dir", str(self.unit_dir), "--install-cmd", install_cmd]
        command += ["--self-check-cmd", f"{PY} {{release}}/self_check.py {config}"]
        command += ["--restart-cmd", restart_cmd or self.restart_cmd()]
        command += ["--health-url", f"http://127.0.0.1:{self.port}/api/health"]
        command += ["--health-timeout-s", str(health_timeout_s)]
        return command + (["--archive", str(archive)] if archive else [])

    def deploy(self, version, archive=None, *extra, **options) -> subprocess.CompletedProcess:
        command = self.command(version, archive, **options) + list(extra)
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    def start_deploy(self, version, archive=None, **options) -> subprocess.Popen:
        command = self.command(version, archive, **options)
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def linked(self, name: str) -> str | None:
        link = self.root / name
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def installed(self) -> set[str]:
        return {p.name for p in (self.root / "releases").iterdir() if (p / ".installed").is_file()}

    def releases(self) -> set[str]:
        return {p.name for p in (self.root / "releases").iterdir()}

    def health(self) -> tuple[int, str]:
        """(HTTP status, the release whose daemon answered)."""
        url = f"http://127.0.0.1:{self.port}/api/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())["release"]
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())["release"]

    def daemon_pid(self) -> int:
        return int((self.run_dir / "daemon.pid").read_text())

    def data_and_config(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.base)): p.read_bytes()
            for d in (self.config_dir, self.data_dir)
            for p in sorted(d.rglob("*"))
            if p.is_file()
        }


def write_units(unit_dir: Path, program_dir: Path) -> None:
    for unit, program in (("goat-edge.service", "goat-edge"), ("goat-sync.service", "goat-sync")):
        exec_start = f"{program_dir}/.venv/bin/{program} run --config /etc/goatdev/edge.toml"
        (unit_dir / unit).write_text(f"[Service]\nType=notify\nExecStart={exec_start}\n")


@pytest.fixture
def pi(tmp_path):
    """A Pi with its config, its data, units that run `current`, and v1 deployed and running."""
    pi = Pi(base=tmp_path / "pi", port=free_port())
    for d in (pi.root, pi.config_dir, pi.data_dir / "photos", pi.unit_dir, pi.run_dir):
        d.mkdir(parents=True)
    (pi.config_dir / "edge.toml").write_text('[device]\nid = "barn-east"\n')
    (pi.config_dir / "edge.env").write_text("GOATDEV_API_TOKEN=s3cret\n")
    (pi.data_dir / "goatdev.sqlite3").write_bytes(b"SQLite format 3\x00 captures of 40 goats")
    (pi.data_dir / "photos" / "c1-side.jpg").write_bytes(b"\xff\xd8 a goat \xff\xd9")
    write_units(pi.unit_dir, pi.root / "current")
    (pi.base / "restart.py").write_text(FAKE_RESTART)
    pi.archives.mkdir()
    try:
        first = pi.deploy("v1", build_release(pi.archives, "v1"))
        assert first.returncode == EXIT_OK, first.stdout + first.stderr  # the first deploy: nothing to go back to
        pi.data_and_config_at_start = pi.data_and_config()
        yield pi
    finally:
        if (pi.run_dir / "daemon.pid").exists() and alive(pi.daemon_pid()):
            os.kill(pi.daemon_pid(), 15)


def test_a_good_release_becomes_current_and_the_one_before_is_kept_as_previous(pi):
    result = pi.deploy("v2", build_release(pi.archives, "v2"))

    assert result.returncode == EXIT_OK, result.stderr
    assert (pi.linked("current"), pi.linked("previous")) == ("v2", "v1")
    assert pi.health() == (200, "v2")  # restarted: the daemon now runs the new release
    assert "health: waiting for" in result.stdout
    assert pi.installed() == {"v1", "v2"}  # v1 stays installed, to go back to
    assert not (pi.root / "deploy-pending").exists()
    mode = (pi.root / "releases" / "v2" / "fake_daemon.py").stat().st_mode
    assert mode & 0o022 == 0  # the archive's group-writable files are not, once unpacked
    assert pi.data_and_config() == pi.data_and_config_at_start


def test_a_release_failing_its_self_check_never_becomes_current(pi):
    daemon = pi.daemon_pid()

    result = pi.deploy("v2", build_release(pi.archives, "v2", behaviour="fails-self-check"))

    assert result.returncode == EXIT_NOT_SWITCHED
    assert "error: self-check: failed with exit status 1" in result.stderr
    assert "camera side: not found" in result.stdout  # the self-check's own list, for the person reading
    assert pi.linked("current") == "v1"
    assert pi.daemon_pid() == daemon and pi.health() == (200, "v1")  # never restarted
    assert "v2" not in pi.installed()
    # The failed release is left to look at, and the next deploy clears it away.
    assert pi.deploy("v3", build_release(pi.archives, "v3")).returncode == EXIT_OK
    assert pi.releases() == {"v1", "v3"}
    assert pi.data_and_config() == pi.data_and_config_at_start


def test_a_release_failing_its_health_check_after_the_restart_is_rolled_back_and_v1_restarted(pi):
    result = pi.deploy("v2", build_release(pi.archives, "v2", behaviour="unhealthy"), health_timeout_s=1.5)

    assert result.returncode == EXIT_ROLLED_BACK
    assert "health: http://127.0.0.1" in result.stderr and "(last: HTTP 500)" in result.stderr
    assert "rolled back to v1, which is running and healthy" in result.stderr
    assert pi.linked("current") == "v1"
    assert pi.health() == (200, "v1")  # restarted again, on v1
    assert not (pi.root / "deploy-pending").exists()
    assert pi.data_and_config() == pi.data_and_config_at_start


def test_a_deploy_killed_during_its_install_leaves_v1_running_and_the_next_deploy_succeeds(pi, tmp_path):
    install_pid, go = tmp_path / "install.pid", tmp_path / "install.go"
    slow_install = f"echo $$ > {install_pid}; while [ ! -e {go} ]; do sleep 0.05; done; {QUICK_INSTALL}"
    archive = build_release(pi.archives, "v2")
    deploy = pi.start_deploy("v2", archive, install_cmd=slow_install)
    try:
        wait_for(install_pid.exists, "the install to start")
        deploy.kill()
        deploy.wait()

        assert pi.linked("current") == "v1" and "v1" in pi.installed()
        assert pi.health() == (200, "v1")
        # The install the killed deploy started still runs, and keeps the next deploy out meanwhile.
        refused = pi.deploy("v2", archive)
        assert refused.returncode == EXIT_LOCKED
        assert "another deploy is running" in refused.stderr
    finally:
        go.touch()
    orphan = int(install_pid.read_text())
    wait_for(lambda: not alive(orphan), "the orphaned install to end")
    # And, as a deploy killed while unpacking leaves it (made by hand: an unpack is too quick to kill in):
    (pi.root / "releases" / "v2.partial" / "edge").mkdir(parents=True)

    result = pi.deploy("v2", archive)

    assert result.returncode == EXIT_OK, result.stderr
    assert "removing v2.partial, left by an interrupted deploy" in result.stdout
    assert "removing v2, whose install or self-check never finished" in result.stdout
    assert (pi.linked("current"), pi.linked("previous")) == ("v2", "v1")
    assert pi.health() == (200, "v2")
    assert pi.releases() == {"v1", "v2"}
    assert pi.data_and_config() == pi.data_and_config_at_start


def test_a_deploy_killed_after_its_switch_leaves_a_whole_release_and_the_next_goes_back_to_the_last_healthy(
    pi, tmp_path
):
    started, go = tmp_path / "restart.started", tmp_path / "restart.go"
    stuck_restart = f"touch {started}; while [ ! -e {go} ]; do sleep 0.05; done"
    deploy = pi.start_deploy("v2", build_release(pi.archives, "v2"), restart_cmd=stuck_restart)
    try:
        wait_for(started.exists, "the restart to start")
        deploy.kill()
        deploy.wait()
    finally:
        go.touch()

    # Switched but never checked: current is v2, whole and self-checked; v1 was the last found healthy.
    assert (pi.linked("current"), pi.linked("previous")) == ("v2", "v1")
    assert "v2" in pi.installed() and (pi.root / "deploy-pending").exists()

    result = pi.deploy("v3", build_release(pi.archives, "v3", behaviour="unhealthy"), health_timeout_s=1.5)

    assert result.returncode == EXIT_ROLLED_BACK
    assert "rolled back to v1" in result.stderr  # not to v2, never proven healthy
    assert pi.linked("current") == "v1"
    assert pi.health() == (200, "v1")
    assert not (pi.root / "deploy-pending").exists()
    assert pi.data_and_config() == pi.data_and_config_at_start


def test_a_second_deploy_is_refused_while_one_is_running(pi, tmp_path):
    started, go = tmp_path / "install.started", tmp_path / "install.go"
    slow_install = f"touch {started}; while [ ! -e {go} ]; do sleep 0.05; done; {QUICK_INSTALL}"
    first = pi.start_deploy("v2", build_release(pi.archives, "v2"), install_cmd=slow_install)
    try:
        wait_for(started.exists, "the first deploy's install to start")

        second = pi.deploy("v3", build_release(pi.archives, "v3"))

        assert second.returncode == EXIT_LOCKED
        assert "error: lock: another deploy is running" in second.stderr
        assert "v3" not in pi.releases()
    finally:
        go.touch()
    output, _ = first.communicate(timeout=60)
    assert first.returncode == EXIT_OK, output
    assert pi.linked("current") == "v2"


def test_old_releases_are_pruned_but_never_current_or_previous(pi):
    for version in ("v2", "v3"):
        assert pi.deploy(version, build_release(pi.archives, version)).returncode == EXIT_OK
    assert pi.releases() == {"v1", "v2", "v3"}  # three kept by default

    result = pi.deploy("v4", build_release(pi.archives, "v4"), "--keep-releases", "1")

    assert result.returncode == EXIT_OK, result.stderr
    assert pi.releases() == {"v3", "v4"}  # v3, older than the one kept, stays: it is previous
    assert (pi.linked("current"), pi.linked("previous")) == ("v4", "v3")
    assert pi.data_and_config() == pi.data_and_config_at_start


def test_going_back_by_hand_to_a_release_still_installed_needs_no_archive(pi):
    assert pi.deploy("v2", build_release(pi.archives, "v2")).returncode == EXIT_OK

    result = pi.deploy("v1")

    assert result.returncode == EXIT_OK, result.stderr
    assert "v1 is already installed here: using it as it is" in result.stdout
    assert (pi.linked("current"), pi.linked("previous")) == ("v1", "v2")
    assert pi.health() == (200, "v1")
    # The same again: nothing to do, and the daemon is left running.
    daemon = pi.daemon_pid()
    again = pi.deploy("v1")
    assert again.returncode == EXIT_OK and "already current: nothing to do" in again.stdout
    assert pi.daemon_pid() == daemon
    missing = pi.deploy("v9")
    assert missing.returncode == EXIT_REFUSED and "v9 is not installed here: give its --archive" in missing.stderr


def test_units_still_running_the_old_install_refuse_the_deploy(pi):
    write_units(pi.unit_dir, pi.root)  # ExecStart=/opt/goatdev/.venv/bin/..., as before this script

    result = pi.deploy("v2", build_release(pi.archives, "v2"))

    assert result.returncode == EXIT_REFUSED
    assert "goat-edge.service runs" in result.stderr and "a deploy would not change what runs" in result.stderr
    assert pi.linked("current") == "v1" and pi.releases() == {"v1"}


def test_an_archive_reaching_outside_its_release_is_refused_before_anything_is_written(pi):
    archive = pi.archives / "goatdev-evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"[device]\nid = 'taken over'\n"
        member = tarfile.TarInfo("../../../../etc/goatdev/edge.toml")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))

    result = pi.deploy("v2", archive)

    assert result.returncode == EXIT_NOT_SWITCHED
    assert "error: unpack: ../../../../etc/goatdev/edge.toml: a path outside the release" in result.stderr
    assert pi.linked("current") == "v1" and pi.releases() == {"v1"}
    assert pi.data_and_config() == pi.data_and_config_at_start


def test_unpacking_works_the_same_on_the_pis_python_without_tarfiles_data_filter(tmp_path, monkeypatch):
    """Raspberry Pi OS 12 has Python 3.11.2; tarfile's data filter came in 3.11.4."""
    spec = importlib.util.spec_from_file_location("deploy_edge", SCRIPT)
    deploy_edge = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "deploy_edge", deploy_edge)
    spec.loader.exec_module(deploy_edge)
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    (tmp_path / "releases").mkdir()

    release = deploy_edge.unpack(build_release(tmp_path, "v2"), deploy_edge.Layout.under(tmp_path), "v2")

    assert (release / "pyproject.toml").read_text().startswith("[project]")
    assert (release / "fake_daemon.py").stat().st_mode & 0o7022 == 0
