#!/usr/bin/env python3
"""Deploy a goatdev release on the Pi beside the running one, and go back to that one on any failure.

    sudo python3 deploy_edge.py --archive goatdev-v1.4.0-1a2b3c4d5e.tar.gz --version v1.4.0-1a2b3c4d5e
    # back to a release still installed here (no archive needed):
    sudo python3 /opt/goatdev/current/scripts/deploy_edge.py --version v1.3.0-9f8e7d6c5b

Runs on the Pi as root; .github/workflows/deploy-edge.yml copies it there and runs it over ssh
(docs/deploy.md). Python's standard library only: it runs before the release has a venv.

Layout under --root (/opt/goatdev):
    releases/VERSION/          one whole release each (a git archive), with its own .venv;
                               .installed in it once installed and self-checked
    current -> releases/V      what the units run (ExecStart=/opt/goatdev/current/.venv/bin/...)
    previous -> releases/V     the release a failed deploy goes back to
    deploy.lock                held while a deploy runs
    deploy-pending             exists from the switch until the new release is found healthy

Steps: lock, check, clean up, unpack, install, self-check, switch, restart, health, prune. A failure
before the switch leaves `current` as it was; after it, `current` goes back to the previous release,
which is restarted and checked. /etc/goatdev (config, secrets) and /var/lib/goatdev (data) are never
touched. A deploy killed at any point leaves `current` at a whole, self-checked release, and the
next deploy cleans up after it.

Exit status:
    0  deployed (or that version was already current)
    1  a step before the switch failed: `current` unchanged
    2  refused (bad arguments, no such root, units not running `current`): nothing changed
    3  the new release failed after the switch: rolled back, the previous release runs and is healthy
    4  failed, and the roll-back failed too or there was nothing to go back to: needs a person
    5  another deploy holds the lock (or a step a killed deploy left running still does)
    130, 143, 129  stopped by Ctrl-C, SIGTERM or SIGHUP (with the step it was running)
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PROG = "deploy_edge.py"
EXIT_OK, EXIT_NOT_SWITCHED, EXIT_REFUSED, EXIT_ROLLED_BACK, EXIT_BROKEN, EXIT_LOCKED = range(6)

UNITS = ("goat-edge.service", "goat-sync.service")
INSTALLED_MARKER = ".installed"
PARTIAL_SUFFIX = ".partial"
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")

# As scripts/install_pi.sh's create_venv: a venv that sees apt's picamera2 and libcamera; numpy kept
# below 2 where the system's is 1 (apt's compiled camera helpers need it); an editable install, so
# the release's own models/ are the default; compiled now, as /opt is read-only to the services.
DEFAULT_INSTALL_CMD = (
    "python3 -m venv --system-site-packages .venv"
    ' && pins=$(python3 -c \'import numpy; print("numpy<2" if numpy.__version__.startswith("1.") else "")\''
    " 2>/dev/null || true)"
    " && .venv/bin/python -m pip install --quiet --editable . $pins"
    " && .venv/bin/python -m compileall -q edge cloud_sync"
)
# As the service's user: run as root, the store check could leave root-owned files in /var/lib/goatdev.
DEFAULT_SELF_CHECK_CMD = (
    "runuser -u goatdev -- {release}/.venv/bin/goat-edge self-check --config /etc/goatdev/edge.toml"
)
# As install_pi.sh: goat-sync restarts only if it runs (it waits for the cloud's settings).
DEFAULT_RESTART_CMD = "systemctl restart goat-edge.service && systemctl try-restart goat-sync.service"
DEFAULT_HEALTH_URL = "http://127.0.0.1:8080/api/health"


class DeployError(Exception):
    """A step failed; the message starts with the step's name, for the person reading the log."""

    def __init__(self, step: str, message: str):
        super().__init__(f"{step}: {message}")
        self.step, self.detail = step, message


class Refused(DeployError):
    """Nothing was changed: the arguments or the Pi are not fit for a deploy."""


class Locked(DeployError):
    """Another deploy is running."""


@dataclass(frozen=True)
class Layout:
    """Where everything lives under the root, named once."""

    root: Path
    releases: Path
    current: Path
    previous: Path
    lock: Path
    pending: Path

    @classmethod
    def under(cls, root: Path) -> Layout:
        names = ("releases", "current", "previous", "deploy.lock", "deploy-pending")
        return cls(root, *(root / name for name in names))

    def release(self, version: str) -> Path:
        return self.releases / version

    def linked_version(self, link: Path) -> str | None:
        """The release a link points at, or None where there is no link yet."""
        try:
            return Path(os.readlink(link)).name
        except FileNotFoundError:
            return None
        except OSError as exc:  # EINVAL: a file or folder where the link should be
            raise Refused("check", f"{link} is not a symlink ({exc.strerror}); move it aside first") from None


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


# -- checks and the lock ---------------------------------------------------------------------------


def check_arguments(args: argparse.Namespace, layout: Layout) -> None:
    """Before the lock: a bad call changes nothing, not even the lock file."""
    if not VERSION_PATTERN.fullmatch(args.version) or args.version.endswith(PARTIAL_SUFFIX):
        raise Refused("check", f"version {args.version!r}: letters, digits and . _ + - only, not ending .partial")
    if not layout.root.is_dir():
        raise Refused("check", f"no {layout.root}: install the Pi first (scripts/install_pi.sh)")
    if args.archive is not None and not args.archive.is_file():
        raise Refused("check", f"no archive {args.archive}")


def take_lock(layout: Layout) -> int:
    """flock, not a pid file: the kernel lets go when the deploy dies, even by SIGKILL, so a killed
    deploy never blocks the next one for good. The install and self-check steps inherit it, so a step
    a killed deploy left running (pip, say) keeps the next deploy out until it ends, not racing it."""
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip()
        os.close(fd)
        raise Locked("lock", f"another deploy is running: {layout.lock} is held ({holder})") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"taken by pid {os.getpid()} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
    return fd


def exec_start(unit: Path) -> str | None:
    """The command a unit runs, its drop-ins (systemctl edit) included: the last ExecStart= wins."""
    command = None
    for path in [unit, *sorted(unit.parent.glob(f"{unit.name}.d/*.conf"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "ExecStart":
                command = value.strip().lstrip("-@:+!") or None  # an empty ExecStart= clears the list
    return command


def check_units(unit_dir: Path, layout: Layout) -> None:
    """The units must run the release `current` points at. Units still running the code install_pi.sh
    copied (/opt/goatdev/.venv) would restart the old code: the health check would pass, and the
    deploy would report a version that is not running."""
    wanted = f"{layout.current}/"
    for name in UNITS:
        command = exec_start(unit_dir / name)
        if command is None:
            raise Refused("check", f"{unit_dir / name}: no such unit, or no ExecStart= (install the units first)")
        if not command.startswith(wanted):
            raise Refused(
                "check",
                f"{name} runs {command.split()[0]}, not a program under {wanted}: a deploy would not change "
                f"what runs. Point its ExecStart= at {wanted}.venv/bin/ (docs/deploy.md)",
            )


# -- releases on disk -------------------------------------------------------------------------------


def fsync_dir(path: Path) -> None:
    """A rename or a new link survives a power cut only once its folder is synced (barn Pis lose power)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(path.parent)


def remove_release(path: Path) -> None:
    """Renamed to .partial first: a removal killed half-way must not leave a release that still looks
    installed (its marker kept, its venv gone)."""
    doomed = path.with_name(path.name + PARTIAL_SUFFIX)
    if doomed.exists():
        shutil.rmtree(doomed)
    path.rename(doomed)
    shutil.rmtree(doomed)


def clean_leftovers(layout: Layout, protected: set[str]) -> None:
    """What a killed deploy leaves behind: an unpack (.partial), a release whose install or self-check
    never finished (no marker), a half-made link. Never what current or previous points at."""
    folders = [p for p in sorted(layout.releases.iterdir()) if p.is_dir() and not p.is_symlink()]
    for entry in folders:
        if entry.name.endswith(PARTIAL_SUFFIX):
            say(f"clean up: removing {entry.name}, left by an interrupted deploy")
            shutil.rmtree(entry)
    for entry in folders:
        if not entry.name.endswith(PARTIAL_SUFFIX) and entry.name not in protected:
            if not (entry / INSTALLED_MARKER).is_file():
                say(f"clean up: removing {entry.name}, whose install or self-check never finished")
                remove_release(entry)
    for link in (layout.current, layout.previous):
        link.with_name(f".{link.name}.new").unlink(missing_ok=True)


def check_member(member: tarfile.TarInfo) -> None:
    """What tarfile's data filter refuses, on every Python: paths and links leaving the release,
    devices, hard links."""
    path = Path(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise DeployError("unpack", f"{member.name}: a path outside the release")
    if not (member.isfile() or member.isdir() or member.issym()):
        raise DeployError("unpack", f"{member.name}: not a file, folder or symlink")
    if member.issym():
        target = os.path.normpath(os.path.join(os.path.dirname(member.name), member.linkname))
        if os.path.isabs(member.linkname) or target == ".." or target.startswith("../"):
            raise DeployError("unpack", f"{member.name}: a link to {member.linkname}, outside the release")


def extract(archive: Path, dest: Path) -> None:
    """Files root's and not writable by group or others, as install_pi.sh copies them."""
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            check_member(member)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # Python before 3.11.4 (Raspberry Pi OS 12 has 3.11.2): the filter's effect by hand
            for member in members:
                member.uid = member.gid = 0
                member.uname = member.gname = "root"
                member.mode &= 0o755
            tar.extractall(dest, members=members)


def unpack(archive: Path, layout: Layout, version: str) -> Path:
    """Into VERSION.partial, renamed when whole: an unpack cut short never looks like a release."""
    partial = layout.releases / f"{version}{PARTIAL_SUFFIX}"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir()
    try:
        extract(archive, partial)
        if not (partial / "pyproject.toml").is_file():
            raise DeployError("unpack", "no pyproject.toml at the archive's top (git archive, without --prefix)")
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, tarfile.TarError | OSError | EOFError):  # EOFError: a truncated .gz
            raise DeployError("unpack", f"{archive}: {exc}") from exc
        raise
    release = layout.release(version)
    partial.rename(release)
    fsync_dir(layout.releases)
    return release


def point(link: Path, version: str) -> None:
    """A new symlink renamed over the old one: `link` points at one whole release at every instant."""
    new = link.with_name(f".{link.name}.new")
    new.unlink(missing_ok=True)
    new.symlink_to(Path("releases") / version)
    os.replace(new, link)
    fsync_dir(link.parent)


def prune(layout: Layout, keep_count: int, protected: set[str]) -> None:
    """The newest keep_count installed releases stay, and current and previous whatever their age:
    the SD card holds a few releases with their venvs, not every one ever deployed."""
    installed = [p for p in layout.releases.iterdir() if (p / INSTALLED_MARKER).is_file()]
    installed.sort(key=lambda p: (p / INSTALLED_MARKER).stat().st_mtime_ns, reverse=True)
    for release in installed[keep_count:]:
        if release.name not in protected:
            say(f"prune: removing {release.name}")
            remove_release(release)


# -- steps that run commands ------------------------------------------------------------------------


def run_step(step: str, command: str, cwd: Path, timeout_s: float, pass_fds: tuple[int, ...] = ()) -> None:
    """In its own process group, so that a timeout, Ctrl-C or SIGTERM stops all of the step (pip and
    what it runs), not just the shell."""
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command], cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=pass_fds
    )
    try:
        status = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise DeployError(step, f"did not finish within {timeout_s:g} s: {command}") from None
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if status != 0:
        raise DeployError(step, f"failed with exit status {status}: {command}")


def wait_healthy(url: str, timeout_s: float, poll_s: float = 0.5) -> None:
    """Polled, not asked once: the daemon answers only once its models, cameras and store are up."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the Pi itself: never a proxy
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with opener.open(url, timeout=max(1.0, min(10.0, timeout_s))) as response:
                last = f"HTTP {response.status}"
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if time.monotonic() >= deadline:
            raise DeployError("health", f"{url} did not answer 200 within {timeout_s:g} s (last: {last})")
        time.sleep(poll_s)


def restart_and_check(args: argparse.Namespace, layout: Layout) -> None:
    say(f"restart: {args.restart_cmd}")
    run_step("restart", args.restart_cmd, layout.root, args.restart_timeout_s)
    say(f"health: waiting for {args.health_url} (up to {args.health_timeout_s:g} s)")
    wait_healthy(args.health_url, args.health_timeout_s)


def install_and_self_check(args: argparse.Namespace, layout: Layout, lock_fd: int) -> Path:
    """Everything before the switch; the release is marked installed only once it passes its self-check."""
    release = layout.release(args.version)
    if (release / INSTALLED_MARKER).is_file():
        say(f"{args.version} is already installed here: using it as it is")
    else:
        if args.archive is None:
            raise Refused("check", f"{args.version} is not installed here: give its --archive")
        if release.exists():  # clean_leftovers kept it: current or previous points at it
            raise Refused("check", f"{release} is in use but has no {INSTALLED_MARKER}; it was not installed by {PROG}")
        say(f"unpack: {args.archive} -> {release}")
        unpack(args.archive, layout, args.version)
        say("install: the release's venv")
        run_step("install", args.install_cmd, release, args.install_timeout_s, (lock_fd,))
    self_check = args.self_check_cmd.replace("{release}", shlex.quote(str(release)))
    say(f"self-check: {self_check}")
    try:
        run_step("self-check", self_check, release, args.self_check_timeout_s, (lock_fd,))
    except DeployError as exc:
        raise DeployError("self-check", f"{exc.detail} (its own output, above, says what is wrong)") from None
    os.sync()  # the venv pip wrote, on the card before the marker says it is whole
    write_durably(release / INSTALLED_MARKER, f"{args.version} installed and self-checked\n")
    return release


def roll_back(args: argparse.Namespace, layout: Layout, to_version: str | None, failure: DeployError) -> int:
    if to_version is None:
        error(f"{failure}; there is no previous release to go back to: {layout.current} stays at {args.version}")
        return EXIT_BROKEN
    say(f"rollback: {args.version} failed ({failure}); switching back to {to_version}")
    point(layout.current, to_version)
    try:
        restart_and_check(args, layout)
    except DeployError as exc:
        error(f"{failure}; rolled back to {to_version}, and that fails too: {exc}")
        return EXIT_BROKEN
    error(f"{failure}; rolled back to {to_version}, which is running and healthy")
    return EXIT_ROLLED_BACK


def deploy(args: argparse.Namespace, layout: Layout, lock_fd: int) -> int:
    current = layout.linked_version(layout.current)
    # A deploy killed between its switch and its health check left `current` unproven: go back, if
    # this one fails, to the release that was last found healthy, which `previous` still names.
    interrupted = layout.pending.exists()
    rollback_to = layout.linked_version(layout.previous) if interrupted else current
    if interrupted:
        say(f"the last deploy stopped before its health check; if this one fails, back to {rollback_to}")
    clean_leftovers(layout, {v for v in (current, rollback_to) if v})
    if args.version == current and not interrupted:
        say(f"{args.version} is already current: nothing to do")
        return EXIT_OK

    install_and_self_check(args, layout, lock_fd)

    if args.version != current:
        if current and not interrupted:
            point(layout.previous, current)
        write_durably(layout.pending, f"{args.version}\n")
        point(layout.current, args.version)
        say(f"switch: {layout.current} -> releases/{args.version} (previous: {rollback_to or 'none'})")
    try:
        restart_and_check(args, layout)
    except DeployError as exc:
        status = roll_back(args, layout, rollback_to, exc)
        layout.pending.unlink(missing_ok=True)
        return status
    layout.pending.unlink(missing_ok=True)
    try:
        prune(layout, args.keep_releases, {args.version, layout.linked_version(layout.previous) or ""})
    except OSError as exc:  # deployed all the same: a later deploy prunes again
        print(f"{PROG}: warning: prune: {exc}", file=sys.stderr)
    say(f"deployed {args.version}")
    return EXIT_OK


def _exit_on_signal(signum: int, _frame: object) -> None:
    """SIGTERM and SIGHUP end the deploy as Ctrl-C does: the running step is stopped with it."""
    raise SystemExit(128 + signum)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.epilog = __doc__[__doc__.index("Exit status:") :]
    parser.add_argument("--version", required=True, help="the release's name, e.g. v1.4.0-1a2b3c4d5e")
    parser.add_argument("--archive", type=Path, help="the release as a .tar.gz (git archive); not needed if installed")
    parser.add_argument("--root", type=Path, default=Path("/opt/goatdev"), help="default: %(default)s")
    parser.add_argument("--unit-dir", type=Path, default=Path("/etc/systemd/system"), help="default: %(default)s")
    parser.add_argument("--install-cmd", default=DEFAULT_INSTALL_CMD, help="run in the release's folder")
    parser.add_argument("--self-check-cmd", default=DEFAULT_SELF_CHECK_CMD, help="{release}: the release's folder")
    parser.add_argument("--restart-cmd", default=DEFAULT_RESTART_CMD, help="default: %(default)s")
    parser.add_argument("--health-url", default=DEFAULT_HEALTH_URL, help="default: %(default)s")
    parser.add_argument("--health-timeout-s", type=float, default=120.0, help="default: %(default)s")
    parser.add_argument("--install-timeout-s", type=float, default=3600.0, help="default: %(default)s")
    parser.add_argument("--self-check-timeout-s", type=float, default=300.0, help="default: %(default)s")
    parser.add_argument("--restart-timeout-s", type=float, default=300.0, help="default: %(default)s")
    parser.add_argument("--keep-releases", type=int, default=3, help="installed releases kept (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.keep_releases < 1:
        parser.error("--keep-releases must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    layout = Layout.under(args.root)
    os.umask(0o022)  # the services' user must read the release, whatever root's umask is
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
    try:
        check_arguments(args, layout)
        layout.releases.mkdir(exist_ok=True)
        lock_fd = take_lock(layout)
        check_units(args.unit_dir, layout)
        return deploy(args, layout, lock_fd)
    except Locked as exc:
        error(str(exc))
        return EXIT_LOCKED
    except Refused as exc:
        error(f"{exc}; nothing changed")
        return EXIT_REFUSED
    except DeployError as exc:
        error(f"{exc}; {layout.current} unchanged")
        return EXIT_NOT_SWITCHED
    except OSError as exc:
        error(f"{exc}; look at {layout.current} and {layout.releases} before deploying again")
        return EXIT_BROKEN
    except KeyboardInterrupt:
        error(f"interrupted; {layout.current} points at a whole release, and the next deploy cleans up")
        return 130


if __name__ == "__main__":
    sys.exit(main())
