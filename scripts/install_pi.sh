#!/usr/bin/env bash
# Installs goat-edge and goat-sync as systemd services on Raspberry Pi OS, from the repository
# this script lives in. Run as root:
#
#   sudo scripts/install_pi.sh             install, or update after a `git pull`
#   scripts/install_pi.sh --dry-run        print each command instead of running it
#
# Safe to run again: it copies the code into a release of its own under /opt/goatdev/releases/
# (named by `git describe`), points /opt/goatdev/current at it (the units run current; the
# release before stays as /opt/goatdev/previous), but never overwrites /etc/goatdev/edge.toml
# nor touches the data in /var/lib/goatdev. Later versions can also come by
# scripts/deploy_edge.py, which uses the same layout (docs/deploy.md).
set -euo pipefail

PREFIX=/opt/goatdev
ETC_DIR=/etc/goatdev
DATA_DIR=/var/lib/goatdev
UNIT_DIR=/etc/systemd/system
SERVICE_USER=goatdev
SERVICE_GROUPS=(video gpio)   # cameras; /dev/gpiochip* for the button
# --no-install-recommends on picamera2 keeps the desktop preview (Qt, OpenGL) off a headless Pi.
APT_PACKAGES=(python3-venv python3-picamera2 python3-libcamera python3-lgpio rsync)
SRC="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
# The release's name: the checkout's `git describe`, else the time of this install.
VERSION="$(git -C "$SRC" describe --tags --always --dirty 2>/dev/null || date -u +local-%Y%m%dT%H%M%SZ)"
RELEASE="$PREFIX/releases/$VERSION"

DRY_RUN=0

usage() {
    sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

for arg in "$@"; do
    case "$arg" in
        -n|--dry-run) DRY_RUN=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install_pi.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done

say() { printf '==> %s\n' "$*"; }
warn() { printf 'install_pi.sh: warning: %s\n' "$*" >&2; }
die() { printf 'install_pi.sh: error: %s\n' "$*" >&2; exit 1; }

# Runs a command, or with --dry-run prints it, quoted so it can be pasted into a shell.
run() {
    if (( DRY_RUN )); then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

is_raspberry_pi_os() {
    # The 32-bit image says ID=raspbian; the 64-bit one says ID=debian but ships /etc/rpi-issue.
    [[ -e /etc/rpi-issue ]] || grep -qs '^ID=raspbian' /etc/os-release
}

check_preconditions() {
    if (( ! DRY_RUN )) && (( EUID != 0 )); then
        die "run as root: sudo $0 (or $0 --dry-run to see what it would do)"
    fi
    [[ -f "$SRC/pyproject.toml" && -d "$SRC/edge" ]] \
        || die "$SRC does not look like the goatdev repository (no pyproject.toml or edge/)"
    [[ -d "$SRC/models" ]] \
        || warn "$SRC/models is missing: export the models first (scripts/export_models.py), or goat-edge will not start"
}

install_apt_packages() {
    if ! command -v apt-get >/dev/null; then
        say "no apt-get here: skipping system packages; install python3-venv, picamera2, libcamera and lgpio yourself"
        return
    fi
    if ! is_raspberry_pi_os; then
        say "not Raspberry Pi OS: skipping ${APT_PACKAGES[*]} (picamera2 and libcamera come from the Pi's apt repository)"
        return
    fi
    say "system packages: ${APT_PACKAGES[*]}"
    run apt-get update
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
}

create_service_user() {
    local group
    for group in "${SERVICE_GROUPS[@]}"; do
        # Raspberry Pi OS has both; elsewhere the unit's SupplementaryGroups= would fail without them.
        getent group "$group" >/dev/null || run groupadd --system "$group"
    done
    local groups_csv
    groups_csv="$(IFS=,; echo "${SERVICE_GROUPS[*]}")"
    if id -u "$SERVICE_USER" >/dev/null 2>&1; then
        say "user $SERVICE_USER exists; making sure it is in ${groups_csv}"
        run usermod --append --groups "$groups_csv" "$SERVICE_USER"
    else
        say "system user $SERVICE_USER (groups ${groups_csv})"
        run useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
            --shell /usr/sbin/nologin --groups "$groups_csv" "$SERVICE_USER"
    fi
}

copy_code() {
    if [[ "$SRC" == "$RELEASE" ]]; then
        say "running from $RELEASE itself: code already in place"
        return
    fi
    say "code: $SRC -> $RELEASE"
    run install -d -m 0755 "$PREFIX" "$PREFIX/releases"
    # Not copied: the developer's venv, training data and runs, local captures, and .pt weights
    # (the Pi runs the exported NCNN models).
    local excludes=(/.venv /datasets /runs /build /goat-data .git .pytest_cache __pycache__ '*.egg-info' '/models/*/*.pt')
    if command -v rsync >/dev/null; then
        # root-owned and not writable by the service user, whatever the checkout's owner.
        # --delete leaves the excluded paths on the receiving side alone (its .venv).
        run rsync -a --delete --chown=root:root --chmod=go+rX,go-w \
            "${excludes[@]/#/--exclude=}" "$SRC/" "$RELEASE/"
    else
        # tar names members ./path: anchor the root-only patterns the same way.
        local tar_excludes=() pattern
        for pattern in "${excludes[@]}"; do
            [[ "$pattern" == /* ]] && pattern=".$pattern"
            tar_excludes+=("--exclude=$pattern")
        done
        run mkdir -p "$RELEASE"
        run bash -c 'src=$1 dest=$2; shift 2; tar -C "$src" --owner=0 --group=0 "$@" -cf - . | tar -C "$dest" -xf -' \
            copy "$SRC" "$RELEASE" "${tar_excludes[@]}"
    fi
}

create_venv() {
    local venv="$RELEASE/.venv"
    if [[ -x "$venv/bin/python" ]]; then
        say "venv $venv exists; reinstalling the package into it"
    else
        say "venv $venv (with the system's picamera2 and libcamera)"
        run python3 -m venv --system-site-packages "$venv"
    fi
    # apt's picamera2 brings compiled helpers (simplejpeg, ...) built against the system numpy.
    # A numpy 2 installed into the venv would shadow a system numpy 1 and break their import.
    local pins=()
    local system_numpy_major
    system_numpy_major="$(python3 -c 'import numpy; print(numpy.__version__.split(".")[0])' 2>/dev/null || true)"
    if [[ "$system_numpy_major" == 1 ]]; then
        pins+=("numpy<2")
    fi
    # Not the [pi] extra: picamera2 and lgpio come from apt here (seen through the system
    # site packages); pip would try to build them, and python-prctl, from source.
    run "$venv/bin/python" -m pip install --quiet --editable "${RELEASE}" "${pins[@]}"
    # /opt is read-only to the services (ProtectSystem=strict): compile now, not on every start.
    run "$venv/bin/python" -m compileall -q "$RELEASE/edge" "$RELEASE/cloud_sync"
}

install_config() {
    run install -d -m 0755 "$ETC_DIR"
    if [[ -e "$ETC_DIR/edge.toml" ]]; then
        say "keeping the existing $ETC_DIR/edge.toml"
    else
        say "config: $ETC_DIR/edge.toml from systemd/edge.example.toml"
        # Group-readable only: it may hold the API token.
        run install -m 0640 -o root -g "$SERVICE_USER" "$SRC/systemd/edge.example.toml" "$ETC_DIR/edge.toml"
    fi
    # One secrets file per unit, read by systemd as root before it drops to $SERVICE_USER:
    # root's alone (0600), so neither service, nor anyone on the Pi, can read the other's.
    for secrets in edge.env sync.env; do
        if [[ -e "$ETC_DIR/$secrets" ]]; then
            run chmod 0600 "$ETC_DIR/$secrets"
            run chown root:root "$ETC_DIR/$secrets"
        else
            run install -m 0600 -o root -g root /dev/null "$ETC_DIR/$secrets"
        fi
    done
    if [[ -e "$ETC_DIR/secrets.env" ]]; then
        say "$ETC_DIR/secrets.env is no longer read: move GOATDEV_API_TOKEN to edge.env and the cloud's to sync.env"
    fi
    say "data: $DATA_DIR"
    run install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$DATA_DIR"
}

check_config() {
    # The units let the services write only under $DATA_DIR; catch a config that points elsewhere
    # (or does not parse) now rather than as a crash loop in the journal.
    say "checking $ETC_DIR/edge.toml"
    run "$RELEASE/.venv/bin/python" - "$ETC_DIR/edge.toml" "$DATA_DIR" <<'PY'
import sys
from pathlib import Path
from edge.config import load_config
from edge.errors import GoatEdgeError

try:
    config = load_config(sys.argv[1])
except GoatEdgeError as exc:
    sys.exit(f"install_pi.sh: error: {exc}")
data_dir, allowed = Path(config.storage.data_dir), Path(sys.argv[2])
if not data_dir.is_absolute() or not data_dir.resolve().is_relative_to(allowed):
    print(f"install_pi.sh: warning: storage.data_dir is {data_dir}; the services may only write "
          f"under {allowed} (ReadWritePaths=)", file=sys.stderr)
PY
}

switch_current() {
    # What the units run. The release it replaces stays as previous, for deploy_edge.py's
    # roll-back; each link is replaced in one rename, so current is never missing.
    local old
    old="$(readlink "$PREFIX/current" 2>/dev/null || true)"
    if [[ -n "$old" && "$old" != "releases/$VERSION" ]]; then
        run ln -sfn "$old" "$PREFIX/previous.tmp"
        run mv -T "$PREFIX/previous.tmp" "$PREFIX/previous"
    fi
    say "current -> releases/$VERSION"
    run ln -sfn "releases/$VERSION" "$PREFIX/current.tmp"
    run mv -T "$PREFIX/current.tmp" "$PREFIX/current"
    # deploy_edge.py deploys and rolls back only to releases marked installed.
    run bash -c 'echo "$1 installed by install_pi.sh" > "$2"' mark "$VERSION" "$RELEASE/.installed"
    if [[ -e "$PREFIX/.venv" ]]; then
        say "the copy in $PREFIX itself (before releases/) is no longer run; remove it when all is well"
    fi
}

self_check() {
    say "self-check"
    if ! run runuser -u "$SERVICE_USER" -- "$PREFIX/current/.venv/bin/goat-edge" self-check --config "$ETC_DIR/edge.toml"; then
        warn "self-check failed: see the list above (expected before the cameras are calibrated and connected)"
    fi
}

install_units() {
    say "systemd units into $UNIT_DIR"
    run install -m 0644 "$SRC/systemd/goat-edge.service" "$SRC/systemd/goat-sync.service" "$UNIT_DIR/"
    if [[ ! -d /run/systemd/system ]]; then
        say "systemd is not running here: units installed, not started"
        return
    fi
    run systemctl daemon-reload
    run systemctl enable goat-edge.service goat-sync.service
    # restart, not `enable --now`: on an update the running daemon must pick up the new code.
    run systemctl restart goat-edge.service
    # goat-sync needs the cloud settings first; an update restarts it only if it already runs.
    run systemctl try-restart goat-sync.service
}

main() {
    check_preconditions
    (( DRY_RUN )) && say "dry run: printing the commands, changing nothing"
    install_apt_packages
    create_service_user
    copy_code
    create_venv
    install_config
    check_config
    switch_current
    install_units
    self_check
    cat <<EOF
==> done.
    Edit $ETC_DIR/edge.toml (device id, camera ids, calibration), then:
        sudo systemctl restart goat-edge
        journalctl -u goat-edge -f
    Secrets, mode 0600, root's: GOATDEV_API_TOKEN in $ETC_DIR/edge.env (needed when the API
    listens beyond the Pi); the cloud's (GOATDEV_DATABASE_URL, AWS keys) in $ETC_DIR/sync.env.
    goat-sync is enabled but not started: once the cloud settings are in place,
        sudo systemctl start goat-sync
EOF
}

main
