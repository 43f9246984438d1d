"""Which process is which, on this machine: its identity across machines and containers, when a pid's
process started, and whether it still runs (Linux `/proc`; elsewhere the host name and `kill(pid, 0)`).

The store's driver leases take a holder on this machine for dead at once when its process is gone (`kill -9`
then `--resume` works without waiting for the heartbeat to age), and the API's launcher tells its own
children from other machines' drivers.
"""

import os
import socket
from functools import cache
from pathlib import Path

from prs_search.field_types import NAME_LENGTH


@cache
def this_machine() -> str:
    """Where a pid means this process's pid: the host name, the kernel's boot id (two machines that share a
    host name still differ) and the pid namespace (containers on one kernel that share the host's name,
    as `--net=host` ones do, see other processes under the same pids)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:  # not Linux: the host name alone
        boot = namespace = ""
    return f"{socket.gethostname()}/{boot}/{namespace}"[:NAME_LENGTH]


def process_started(pid: int) -> int:
    """When process `pid` started (clock ticks since boot, Linux `/proc`); 0 when that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[19]) if len(fields) > 19 else 0


def process_alive(pid: int, started: int) -> bool:
    """Whether the process `pid` that started at `started` (0: unknown) still runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return True
    if state in ("Z", "X"):  # exited, not yet reaped by its parent
        return False
    return not started or process_started(pid) in (0, started)
