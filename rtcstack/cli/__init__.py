"""The `rtcstack` command line: one module per command group, each registering itself on `main`
(rtcstack.cli.base); this package only gathers them."""

# base first: it imports pyinfra_cli, which patches the standard library for gevent before ssl is imported.
from .base import main  # noqa: I001
from . import billing, conference, database, deploy, features, lab, links, load, portal, registrar, secrets, turn  # noqa: F401  (each registers its commands)

__all__ = ["main"]
