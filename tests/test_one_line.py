"""render.one_line: report text shown on one line, whatever characters it holds."""

from hypothesis import given
from hypothesis import strategies as st

from azbdiag.render import one_line


def _per_character(text: str) -> str:
    """The definition: every character that is not printable becomes a space, then strip."""
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()


def test_examples():
    assert one_line("  vm-01 ") == "vm-01"
    assert one_line("a\nb\tc\x1b[31m") == "a b c [31m"
    assert one_line("\u2028x\x85") == "x"
    assert one_line(42) == "42"


@given(st.text())
def test_same_as_the_per_character_definition(text):
    # one_line takes a shortcut for printable text; it must not change the answer.
    shown = one_line(text)
    assert shown == _per_character(text)
    assert shown.isprintable()
