"""What a module loads when it runs, read from the files' text: the closure a service's restart follows."""

import pytest

from rtcstack.infra.imports import closure, import_graph
from tests import PROJECT_ROOT


def checkout() -> dict[str, str]:
    """rtcstack's modules as the checkout holds them (its wheel holds the same text)."""
    return {p.relative_to(PROJECT_ROOT).as_posix(): p.read_text() for p in (PROJECT_ROOT / "rtcstack").rglob("*.py")}


def package(**modules: str) -> dict[str, str]:
    """{path: source} of a package `app` with these modules (`web__portal` is app/web/portal.py) and an empty
    `__init__.py` in every folder that has none."""
    files = {"app/" + name.replace("__", "/") + ".py": source for name, source in modules.items()}
    for path in list(files):
        parts = path.split("/")
        for n in range(1, len(parts)):
            files.setdefault("/".join(parts[:n]) + "/__init__.py", "")
    return files


def test_imports_under_type_checking_do_not_count_and_imports_inside_functions_do():
    main = ("from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from . import hints\nelse:\n    from . import fallback\n"
            "def later():\n    from .lazy import thing\n    import app.deep.er\n")
    files = package(main=main, hints="", fallback="", lazy="thing = 1\n", deep__er="")
    assert import_graph(files)["app.main"] == {"app.fallback", "app.lazy", "app.deep.er"}
    assert "app.hints" not in closure(import_graph(files), ["app.main"])


def test_importing_a_submodule_runs_its_parent_packages_and_what_they_import():
    files = package(main="import app.web.portal\n", web__portal="", helpers="", other="")
    files["app/web/__init__.py"] = "from ..helpers import *\n"
    assert closure(import_graph(files), ["app.main"]) == {"app", "app.main", "app.web", "app.web.portal", "app.helpers"}
    assert closure(import_graph(files), ["app.web.portal"]) == {"app", "app.web", "app.web.portal", "app.helpers"}


def test_relative_imports_resolve_and_from_package_import_name_counts_the_submodule_when_there_is_one():
    portal = "from . import i18n, CONSTANT\nfrom ..domain import rows\nfrom ..domain.rows import Row\n"
    files = package(web__portal=portal, web__i18n="", domain__rows="Row = 1\n", domain__money="")
    files["app/domain/__init__.py"] = "from .money import *\n"
    assert import_graph(files)["app.web.portal"] == {"app.web.i18n", "app.web", "app.domain.rows"}
    assert import_graph(files)["app.domain"] == {"app.domain.money"}
    assert "app.domain.money" in closure(import_graph(files), ["app.web.portal"])


def test_a_module_loaded_by_a_literal_name_counts():
    files = package(main='import importlib\nplugin = importlib.import_module("app.plugin")\n', plugin="")
    assert closure(import_graph(files), ["app.main"]) == {"app", "app.main", "app.plugin"}


def test_an_entry_module_that_is_not_there_is_an_error():
    with pytest.raises(ValueError, match="app.portl"):
        closure(import_graph(package(portal="")), ["app.portl"])


def test_the_portal_loads_its_pages_and_the_domain_but_nothing_of_the_deploy_side():
    """The real closure of the portal's entry module: its pages, the domain rules, the models; neither the deploy
    library nor the CLI, nor the renewal job (a oneshot that loads the installed code at each start)."""
    loaded = closure(import_graph(checkout()), ["rtcstack.web.portal"])
    assert {"rtcstack", "rtcstack.web", "rtcstack.web.portal", "rtcstack.web.app", "rtcstack.domain.portal",
            "rtcstack.domain.money", "rtcstack.db.models"} <= loaded
    assert not {"rtcstack.infra.service", "rtcstack.cli", "rtcstack.roles", "rtcstack.web.renewal"} & loaded
