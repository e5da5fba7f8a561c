"""Shared fixtures: the repository root and a copy of it to break inventories in."""

import shutil
from pathlib import Path

import pytest

from rtcstack import PROJECT_ROOT

SHIPPED_INVENTORIES = ["inventories/lab.py", "inventories/single.py", "inventories/production.example.py"]
LAB_INVENTORIES = ["inventories/lab.py", "inventories/single.py"]


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of inventories/ and group_data/ (no secrets) in a temporary project directory."""
    for folder in ("inventories", "group_data"):
        shutil.copytree(PROJECT_ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("*.secrets", "*.pki", "__pycache__"))
    return tmp_path
