"""`python -m fanflow.cli ...` behaves like the `fanflow` console script."""

from __future__ import annotations

from fanflow.cli import main

if __name__ == "__main__":
    main()
