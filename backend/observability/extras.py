"""Optional dependencies: a missing one is named in one sentence, with the extra to install."""
from __future__ import annotations

import importlib

DISTRIBUTION = "vigil-observability"


class MissingExtra(ImportError):
    """An optional feature was asked for but its dependencies are not installed."""


def require(extra: str, reason: str, what: str, *modules: str) -> None:
    """Import ``modules`` or raise MissingExtra: "<reason>, but <what> is not installed: pip install ..."."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtra(f"{reason}, but {what} is not installed: "
                               f"pip install '{DISTRIBUTION}[{extra}]'.") from None
