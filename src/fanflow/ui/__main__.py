"""`python -m fanflow.ui [--host 127.0.0.1] [--port 8237]`: the dashboard without the CLI."""

from __future__ import annotations

import argparse

from fanflow.ui.server import DEFAULT_PORT, serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m fanflow.ui", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
