"""Figures that say what they show: ``show(fig, alt="...")`` stores alt text with the picture.

A notebook keeps a matplotlib figure as a PNG and nothing else, so a screen reader (and the course's
website) can only say "image". ``show`` displays the figure as ``image/png`` with its description kept
in two places of the same output:

* the output's metadata, ``{"image/png": {"alt": "..."}}``, next to the width and height that
  Jupyter already keeps there; ``fusion-course site`` turns it into ``<img alt="...">``;
* a ``text/plain`` fallback, ``Figure: ...``, which text-only front ends print instead of the picture.

Example (in a notebook)::

    import matplotlib.pyplot as plt
    from fusion_course.figures import show

    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0, 1, 4])
    show(fig, alt="A parabola rising from 0 to 4 over x = 0, 1, 2.")

``import fusion_course`` stays light: matplotlib and IPython are imported only when a figure is shown.
"""
from __future__ import annotations

import base64
import io
from typing import Any

PNG = "image/png"
ALT_KEY = "alt"
TEXT_PREFIX = "Figure: "


def _check_alt(alt: Any) -> str:
    """Alt text must describe the figure: an empty one would be read aloud as nothing at all."""
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError(
            f"alt must be a sentence that says what the figure shows, got {alt!r}; "
            "e.g. show(fig, alt='Three feature maps of the photo: edges, texture and shape.')"
        )
    return " ".join(alt.split())


def figure_output(fig, alt: str, *, dpi: float | None = None) -> tuple[dict, dict]:
    """The ``(data, metadata)`` pair of a display output: the PNG, its text fallback and its alt text.

    The PNG is cropped to the drawing (``bbox_inches="tight"``), as Jupyter's inline backend does, so a
    figure looks the same whether it is shown with ``show`` or left to the backend.
    """
    alt = _check_alt(alt)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or fig.dpi, bbox_inches="tight")
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    data = {PNG: png, "text/plain": TEXT_PREFIX + alt}
    metadata = {PNG: {ALT_KEY: alt}}
    return data, metadata


def show(fig, alt: str, *, close: bool = True) -> None:
    """Display ``fig`` in the notebook with its alt text stored in the output (see the module docstring).

    The figure is closed afterwards (``close=True``) so that the inline backend does not draw it a
    second time, without alt text, at the end of the cell.
    """
    from IPython import get_ipython
    from IPython.display import display

    data, metadata = figure_output(fig, alt)
    if get_ipython() is None:  # a plain script has no place for the picture: print what it shows
        print(data["text/plain"])
    else:
        display(data, raw=True, metadata=metadata)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)


def alt_text(output: dict, mime_type: str = PNG) -> str | None:
    """The alt text stored with one notebook output (a dict in nbformat's layout), or None.

    Reads what ``show`` writes; an output made some other way (``plt.show()``, the inline backend)
    has none, and the caller picks a fallback.
    """
    meta = output.get("metadata") or {}
    alt = (meta.get(mime_type) or {}).get(ALT_KEY)
    if isinstance(alt, str) and alt.strip():
        return " ".join(alt.split())
    return None
