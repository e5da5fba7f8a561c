"""The building blocks of typed configuration: the settings base and the deployment-wide models, ports and
listeners, and problems an operator can act on. Role models live in rtcstack/roles; the whole deployment
model, its loader and the Site in rtcstack/site."""

from .ports import Listener, PortRange
from .problems import ConfigError, Problem
from .settings import HostSettings, Settings

__all__ = ["ConfigError", "HostSettings", "Listener", "PortRange", "Problem", "Settings"]
