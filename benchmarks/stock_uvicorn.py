"""The same app under stock uvicorn, without goat-edge's connection limits: the alternative
benchmarks/hostile.py compares the daemon with.

    .venv/bin/python -m benchmarks.stock_uvicorn edge.toml
"""

from __future__ import annotations

import sys

import uvicorn

from edge.api.app import create_app
from edge.config import load_config
from edge.pipeline.context import build_context


def main(config_path: str) -> None:
    config = load_config(config_path)
    ctx = build_context(config)
    try:
        uvicorn.run(create_app(ctx), host=config.api.host, port=config.api.port, log_level="warning")
    finally:
        ctx.close()


if __name__ == "__main__":
    main(sys.argv[1])
