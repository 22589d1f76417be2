"""The process a model runs in: CPU threads per process, and the garbage collector around a loaded model.

Domain code: no pytest import.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os


def threads_per_process(processes: int) -> int:
    """This machine's usable CPUs shared out among ``processes`` (each at least one).

    Every process running torch on the CPU otherwise starts one thread per CPU: two pytest-xdist
    workers on two cores then spend their time waiting on each other's threads (the shipped
    suite took 189 s under ``-n 2`` against 13 s in one process).
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // max(1, processes))


def freeze_heap() -> bool:
    """Move everything alive now (torch, transformers, the model) out of the garbage collector's sight.

    Nothing loaded with the model becomes garbage before the session ends, yet every full
    collection walks all of it: pytest's two collections at unconfigure took 0.4 s once torch
    and transformers were imported. Returns False (and does nothing) when the process froze
    objects itself; the caller unfreezes with ``gc.unfreeze()`` when it froze.
    """
    if gc.get_freeze_count():
        return False
    gc.freeze()
    _freeze_at_exit()
    return True


@functools.cache
def _freeze_at_exit() -> None:
    # The interpreter's final collections walk the whole torch/transformers heap again (1 s here) only to
    # free memory the operating system takes back anyway; freezing first, at exit, skips that walk.
    atexit.register(gc.freeze)
