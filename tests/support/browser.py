"""Debian's Chromium, driven by Playwright, for the tablet page's tests.

Playwright's own browser download does not work offline, so the tests launch the system's
chromium (`apt-get install chromium`; .ci/run installs it). Without it, or without the
playwright package, the browser tests skip, and fail where GOATDEV_REQUIRE_SERVICES is set
(CI), as the service tests do.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"
TABLET_LANDSCAPE = {"width": 1280, "height": 800}


def launch_chromium(playwright):
    if not shutil.which(CHROMIUM):
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError:
        _unavailable("the playwright package is not installed (the test extra has it)")
    return start()


def _unavailable(why: str):
    if os.environ.get("GOATDEV_REQUIRE_SERVICES"):
        pytest.fail(why, pytrace=False)
    pytest.skip(why)
