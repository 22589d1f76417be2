"""A progress display for long generation that fits pytest's terminal output.

Interactive terminals get one line rewritten in place (at most ~5 times a
second); non-interactive output (CI logs) gets a start line, a line at each
third and an end line, and only when generation lasts long enough to matter;
``-q`` gets nothing. Domain code: it writes through the functions it is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pytest_taskbench.generation.engine import Progress

LOG_AFTER_SECONDS = 2.0  # non-interactive: say nothing for generation quicker than this
REFRESH_SECONDS = 0.2


@dataclass
class ProgressPrinter:
    """Turns engine ``Progress`` events into terminal lines.

    Args:
        write_line: prints a whole line (pytest's ``terminalreporter.write_line``).
        rewrite: rewrites the current line in place (``terminalreporter.rewrite``), or None when not a terminal.
    """

    write_line: Callable[[str], None]
    rewrite: Callable[[str], None] | None = None
    clock: Callable[[], float] = time.monotonic
    _last: float = field(default=0.0, init=False)
    _logged_thirds: int = field(default=0, init=False)
    _started: bool = field(default=False, init=False)

    def __call__(self, state: Progress) -> None:
        line = describe(state)
        now = self.clock()
        if self.rewrite is not None:
            if state.finished or state.done == 0 or now - self._last >= REFRESH_SECONDS:
                self._last = now
                self.rewrite(line)
                if state.finished:
                    self.write_line("")
            return
        if state.done == 0 and not state.finished:
            return
        if not self._started and state.seconds >= LOG_AFTER_SECONDS and not state.finished:
            self._started = True
            self.write_line(describe(Progress(state.total, 0, state.cached, 0.0)))
        if not self._started:
            return
        thirds = 3 * state.done // max(1, state.total)
        if state.finished:
            self.write_line(line)
        elif thirds > self._logged_thirds and thirds < 3:
            self._logged_thirds = thirds
            self.write_line(line)


def describe(state: Progress) -> str:
    cached = f", {state.cached} from cache" if state.cached else ""
    if state.finished:
        rate = state.done / state.seconds if state.seconds > 0 else 0.0
        return f"taskbench: generated {state.done} outputs{cached} in {state.seconds:.1f}s ({rate:.1f}/s)"
    if state.done == 0:
        return f"taskbench: generating {state.total} outputs{cached} ..."
    return f"taskbench: generating {state.done}/{state.total} outputs{cached} [{state.seconds:.1f}s]"
