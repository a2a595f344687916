"""Creating fanflow's folders on disk owner-only.

`FANFLOW_HOME` holds the metadata database and the artifacts, which may hold pickled objects
(code that runs when loaded) and anything a step produced. Folders fanflow creates there are
made with mode 0700, so other users of the machine can neither read nor plant files; folders
that already exist are left as the user made them.
"""

from __future__ import annotations

import os

PRIVATE_DIR_MODE = 0o700


def make_private_dirs(path: str) -> None:
    """`os.makedirs(path, exist_ok=True)`, with every folder it creates (not only the last, as
    `os.makedirs(mode=...)` would) made owner-only."""
    path = os.path.abspath(path)
    missing: list[str] = []
    current = path
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise
