"""Typed configuration: settings models, the deployment model and its loader."""

from .deployment import ROLES, SECRETS, Deployment, Host
from .loader import load, load_inventory, short_name
from .problems import ConfigError, Problem

__all__ = ["ROLES", "SECRETS", "ConfigError", "Deployment", "Host", "Problem", "load", "load_inventory", "short_name"]
