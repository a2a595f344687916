"""Facts about processes on this host, shared by every layer that must tell a live owner (an
orchestrator, an artifact writer) from a dead one."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """Is process `pid` on this host running? A zombie nobody reaped yet is not; a process of
    another user (no permission to signal it) is."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
