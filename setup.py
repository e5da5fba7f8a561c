"""Build hook: the wheel carries deploys/, templates/ and loadtests/ as rtcstack/share/<folder>.

Everything else about the package is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHARED = ("deploys", "templates", "loadtests")


class BuildWithShare(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the folders from the checkout
        for name in SHARED:
            source = Path(__file__).resolve().parent / name
            target = Path(self.build_lib) / "rtcstack" / "share" / name
            shutil.rmtree(target, ignore_errors=True)  # a file deleted from the source must not ship
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithShare})
