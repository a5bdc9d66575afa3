"""A progress bar that leaves readable text behind in a saved notebook.

tqdm's notebook bar is an ipywidget: it looks right while it runs, but a saved notebook opened on a fresh
profile shows ``0%| | 0/16`` stubs or "model not found" where the bar was. Here the bar is a widget while
the work runs (displayed with a display id), and when it closes its output is *replaced* by one line of
text (``update_display_data``), which is what the notebook file keeps. In a terminal it is tqdm's text bar.

>>> bar = Progress(total=3, desc="demo", disable=True)
>>> for _ in range(3): bar.update()
>>> bar.close()
'demo: 3/3 in 0.0 s'
"""
from __future__ import annotations

import sys
import time

__all__ = ["Progress", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel that can show widgets."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class _WidgetBar:
    def __init__(self, total: int, desc: str) -> None:
        import ipywidgets as w
        from IPython.display import display

        self.label, self.info = w.Label(desc), w.Label("")
        self.bar = w.IntProgress(min=0, max=max(total, 1), layout=w.Layout(width="320px"))
        self.box = w.HBox([self.label, self.bar, self.info])
        self.handle = display(self.box, display_id=True)

    def show(self, n: int, desc: str, info: str) -> None:
        self.bar.value, self.label.value, self.info.value = n, desc, info

    def close(self, summary: str) -> None:
        self.handle.update({"text/plain": summary}, raw=True)   # the saved notebook keeps this line
        self.box.close()


class _TextBar:
    def __init__(self, total: int, desc: str) -> None:
        from tqdm.std import tqdm

        self.bar = tqdm(total=total, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)

    def show(self, n: int, desc: str, info: str) -> None:
        self.bar.set_description_str(desc, refresh=False)
        self.bar.set_postfix_str(info, refresh=False)
        self.bar.update(n - self.bar.n)

    def close(self, summary: str) -> None:
        self.bar.close()


class Progress:
    """``total`` steps of work; ``update()`` after each, ``close()`` at the end (returns the summary line).

    Args:
        total: number of steps.
        desc: what is running, e.g. ``"sum seed 0"``; ``set_description`` changes it (e.g. per epoch).
        disable: show nothing (the summary is still returned by ``close``).
    """

    def __init__(self, total: int, desc: str = "", *, disable: bool = False, min_interval: float = 0.5) -> None:
        self.total, self.desc, self.info, self.n = int(total), desc, "", 0
        self.start = self._last = time.perf_counter()
        self.min_interval = min_interval
        self._impl = None if disable else (_WidgetBar if in_notebook() else _TextBar)(self.total, desc)

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def set_info(self, info: str) -> None:
        self.info = info

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if self._impl is not None and (now - self._last >= self.min_interval or self.n >= self.total):
            self._last = now
            self._impl.show(self.n, self.desc, self.info)

    def close(self) -> str:
        summary = f"{self.desc}: {self.n}/{self.total} in {time.perf_counter() - self.start:.1f} s"
        if self.info:
            summary += f", {self.info}"
        if self._impl is not None:
            self._impl.close(summary)
            self._impl = None
        return summary
