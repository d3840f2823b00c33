"""azbdiag: find the guest-side cause of Azure VM backup failures on Linux."""

import os as _os

__version__ = "0.1.0"

# In a source checkout the rule modules sit in the top-level rules/ folder; installed, they are
# the azbdiag.rules package. Let the checkout resolve azbdiag.rules too, so that
# `python3 -m azbdiag` and the tests run from a clone without an install step.
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(_os.path.dirname(__file__), "rules")) and _os.path.isfile(
    _os.path.join(_checkout, "rules", "__init__.py")
) and _os.path.isfile(_os.path.join(_checkout, "pyproject.toml")):
    __path__.append(_checkout)  # type: ignore[name-defined]  # noqa: F821
