"""Which of a package's modules a module loads when it runs, read with ast from the files' text alone (a
checkout's or a wheel's: nothing is imported). The architecture test reads the graph for cycles; the deploy
reads a service's closure so that a service restarts for code it runs, not for the deploy's own code.

Files are given as {path: source}, paths relative to the package's parent (`rtcstack/web/__init__.py`): the
path says whether a module is a package, which relative imports need."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath


def module_name(path: str) -> str:
    parts = PurePosixPath(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"


def runtime_imports(path: str, source: str, modules: set[str]) -> set[str]:
    """The modules among `modules` that the module at `path` imports when it runs: imports inside functions
    count, imports under `if TYPE_CHECKING:` are annotations only and do not; `from package import name` counts
    the submodule when there is one; `importlib.import_module("name")` with a literal name counts too."""
    tree = ast.parse(source, path)
    this = module_name(path)
    package = this if PurePosixPath(path).name == "__init__.py" else this.rpartition(".")[0]
    skipped = {id(node) for top in ast.walk(tree) if isinstance(top, ast.If) and _is_type_checking(top)
               for statement in top.body for node in ast.walk(statement)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                out.add(candidate if candidate in modules else base)
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in
              ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)):
            out.add(node.args[0].value)
    return {name for name in out if name in modules and name != this}


def import_graph(files: Mapping[str, str]) -> dict[str, set[str]]:
    """Each module's runtime imports among the files' modules."""
    modules = {module_name(path) for path in files}
    return {module_name(path): runtime_imports(path, source, modules) for path, source in files.items()}


def closure(graph: Mapping[str, Iterable[str]], entries: Iterable[str]) -> set[str]:
    """The modules that running the modules `entries` loads, in an `import_graph`: their runtime imports,
    transitively, with every package on the way (importing `a.b.c` runs `a/__init__.py` and `a/b/__init__.py`
    first)."""
    entries = list(entries)
    if missing := [name for name in entries if name not in graph]:
        raise ValueError(f"no such module: {', '.join(missing)}")
    found: set[str] = set()
    while entries:
        name = entries.pop()
        if name in found or name not in graph:
            continue
        found.add(name)
        entries += [*(name.rsplit(".", n)[0] for n in range(1, name.count(".") + 1)), *graph[name]]
    return found
