"""Process identity on this machine (`prs_search.processes`): what the driver leases and the API's launcher
tell live processes from dead ones by."""

import os
import subprocess
import sys

from prs_search.processes import process_alive, process_started, this_machine


def test_this_process_is_alive_with_its_own_start_time() -> None:
    started = process_started(os.getpid())
    assert started > 0
    assert process_alive(os.getpid(), started) and process_alive(os.getpid(), 0)


def test_a_reused_pid_with_another_start_time_is_not_the_same_process() -> None:
    assert not process_alive(os.getpid(), process_started(os.getpid()) + 1)


def test_an_exited_process_is_dead_before_and_after_it_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = process_started(child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert not process_alive(child.pid, started)
    child.wait()
    assert not process_alive(child.pid, started)


def test_this_machine_names_the_host_first() -> None:
    assert this_machine().split("/", 1)[0] == os.uname().nodename
