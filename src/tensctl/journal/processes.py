"""Whether the process that wrote a session is still there: host name, boot, process id."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()[:8]
    except OSError:
        return ""


def this_host() -> str:
    """The host name and, where the system says, this boot: ``name (boot 1a2b3c4d)``."""
    boot = _boot_id()
    return f"{socket.gethostname()} (boot {boot})" if boot else socket.gethostname()


def gone(host: str, pid: int) -> bool:
    """Whether the process that wrote a session is certainly gone (other hosts: unknown)."""
    here = this_host()
    if host in (here, socket.gethostname()):  # this boot (or a store from before boot ids)
        return pid != os.getpid() and not _alive(pid)
    name, boot = socket.gethostname(), _boot_id()
    return bool(boot) and host.startswith(f"{name} (boot ") and host != here


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
