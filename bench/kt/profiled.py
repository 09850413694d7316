"""`python -m bench.kt.profiled OUT.prof -m kubetask ARGS`: the kubetask CLI under cProfile.

The profiler starts on SIGUSR1 and stops and writes OUT.prof on SIGUSR2, so a profile
covers only the measured window (no start-up, imports or warm-up).
"""

from __future__ import annotations

import cProfile
import signal
import sys
from types import FrameType


def main() -> None:
    """Install the signal handlers, then run the kubetask CLI with the remaining arguments."""
    out, rest = sys.argv[1], sys.argv[2:]
    if rest[:2] == ["-m", "kubetask"]:
        rest = rest[2:]
    profiler = cProfile.Profile()

    def start(signum: int, frame: FrameType | None) -> None:
        profiler.enable()

    def dump(signum: int, frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, dump)
    sys.argv = ["kubetask", *rest]
    from kubetask.cli.main import main as kubetask_main

    kubetask_main()


if __name__ == "__main__":
    main()
