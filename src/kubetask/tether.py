"""Child processes that are signalled when their parent dies, however it dies (Linux).

`kubetask dev` starts etcd, a scheduler, workers and the dashboard in their own sessions
(so that Ctrl-C reaches only the parent, which stops them in order). Without a tether, a
parent killed with SIGKILL, or one that crashed, would leave them running and holding their
ports. The kernel's parent-death signal (prctl PR_SET_PDEATHSIG) covers every way the
parent can die, and works for etcd too, a Go binary that could not watch a pipe itself.

Caveat (from prctl(2)): the signal is sent when the *thread* that started the child ends,
not the whole process. Start tethered children from a thread that lives as long as the
parent process (the main thread).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def tethered(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` for subprocess.Popen: the child gets `sig` when this thread ends.

    None where the platform has no parent-death signal (the child is then not tethered).
    """
    prctl = _prctl()  # looked up before the fork: the child only makes the call
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(ctypes.c_int(_PR_SET_PDEATHSIG), ctypes.c_ulong(int(sig)), ctypes.c_ulong(0),
              ctypes.c_ulong(0), ctypes.c_ulong(0))
        if os.getppid() != parent:  # the parent died between the fork and the prctl
            os.kill(os.getpid(), sig)

    return preexec
