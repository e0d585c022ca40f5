"""`goat-edge run` (the daemon), `goat-edge capture` (one capture from the command line) and
`goat-edge self-check` (ready to measure? after install and every deploy)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from edge.config import EdgeConfig, load_config
from edge.errors import GoatEdgeError
from edge.measurements import MEASUREMENTS


def add_parsers(sub) -> None:
    run = sub.add_parser("run", help="run the daemon: cameras, models, button and the tablet API")
    run.add_argument("--config", type=Path, help="TOML config (default /etc/goatdev/edge.toml if present)")
    run.set_defaults(run=run_command)

    cap = sub.add_parser("capture", help="take one capture now and print the stored result")
    cap.add_argument("--config", type=Path, help="TOML config (default /etc/goatdev/edge.toml if present)")
    cap.add_argument("--goat", metavar="TAG", help="the goat in the chute, by tag")
    cap.add_argument("--json", action="store_true", help="print the stored capture as JSON")
    cap.set_defaults(run=capture_command)

    check = sub.add_parser("self-check", help="check cameras, models, database, config and clock; exit 1 if any fails")
    check.add_argument("--config", type=Path, help="TOML config (default /etc/goatdev/edge.toml if present)")
    check.set_defaults(run=self_check_command)


def self_check_command(args) -> int:
    from edge.daemon.self_check import Check, run_checks

    try:
        config = load_config(args.config)
        checks = [Check("config", True, str(args.config or "defaults or /etc/goatdev/edge.toml")), *run_checks(config)]
    except GoatEdgeError as exc:  # a config that cannot be read stops the other checks
        checks = [Check("config", False, str(exc))]
    for check in checks:
        print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    failed = [c.name for c in checks if not c.ok]
    print(f"self-check: {'all ' + str(len(checks)) + ' passed' if not failed else 'failed: ' + ', '.join(failed)}")
    return 1 if failed else 0


def run_command(args) -> int:
    from edge.daemon.run import run_daemon
    from edge.service.logs import configure_logging

    config = load_config(args.config)
    configure_logging()
    return run_daemon(config)


def _via_daemon(config: EdgeConfig, goat_tag: str | None) -> dict | None:
    """Ask a running daemon to capture (it holds the cameras); None if none is listening."""
    url = f"http://{config.api.host}:{config.api.port}/api/captures"
    headers = {"Content-Type": "application/json"}
    if config.api.token:
        headers["Authorization"] = f"Bearer {config.api.token}"
    request = urllib.request.Request(url, json.dumps({"goat_tag": goat_tag}).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail")
        except (ValueError, AttributeError):
            detail = exc.reason
        raise GoatEdgeError(f"the running daemon refused the capture: {detail}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _in_process(config: EdgeConfig, goat_tag: str | None) -> dict:
    from edge.pipeline.context import build_context

    ctx = build_context(config)
    try:
        return ctx.pipeline.capture("cli", goat_tag=goat_tag)
    finally:
        ctx.close()


def capture_command(args) -> int:
    config = load_config(args.config)
    stored = _via_daemon(config, args.goat) or _in_process(config, args.goat)
    for image in stored["images"]:
        image["file"] = str((config.storage.data_dir / image["path"]).resolve())
    if args.json:
        print(json.dumps(stored, indent=2))
        return 0
    print(f"capture {stored['id']}: {stored['status']}" + (f" ({stored['reason']})" if stored["reason"] else ""))
    for name in MEASUREMENTS:
        value = stored["measurements"].get(name)
        print(f"  {name:<20}{'—' if value is None else f'{value:.1f}':>8}")
    for image in stored["images"]:
        print(f"  {image['kind']} {image['view']}: {image['file']}")
    return 0
