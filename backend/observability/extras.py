"""Optional dependencies: a missing one is named in one sentence, with the extra to install."""
from __future__ import annotations

import importlib

# Not on PyPI (a PyPI project of another name would be someone else's code): the message names the
# install from a Vigil checkout; from git or a wheel, see docs/instrumenting-your-app.md.
DISTRIBUTION = "vigil-stack-instrumentation"
INSTALL_FROM = "./backend/observability"


class MissingExtra(ImportError):
    """An optional feature was asked for but its dependencies are not installed."""


def require(extra: str, reason: str, what: str, *modules: str) -> None:
    """Import ``modules`` or raise MissingExtra: "<reason>, but <what> is not installed: install ..."."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtra(f"{reason}, but {what} is not installed: "
                               f"install the '{extra}' extra, e.g. pip install '{INSTALL_FROM}[{extra}]' in a Vigil checkout.") from None
