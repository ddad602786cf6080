"""Text from outside (names, error messages) shown safely: control characters made visible, the
one rule under every output format's own escaping and on the terminal."""

from __future__ import annotations

import re

# C0 controls but tab and newline (white space every format handles), DEL and C1 controls: an
# ESC would start a terminal's escape sequence, and pdflatex stops at most of them.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text, keep: str = "") -> str:
    r"""``text`` with each control character (but tab, newline and those in ``keep``) written
    as its escape, ``\x1b`` for ESC: seen, never acted on.

    >>> visible("red\x1b[31m name")
    'red\\x1b[31m name'
    """
    return _CONTROLS.sub(
        lambda m: m.group() if m.group() in keep else f"\\x{ord(m.group()):02x}", str(text)
    )
