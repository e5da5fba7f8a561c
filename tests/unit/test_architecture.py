"""The architecture's rules, read from the source: no import cycle, and no code outside a role's own files
that branches on the role's name."""

import ast
from pathlib import Path

import pytest

from rtcstack.infra import imports
from rtcstack.roles import ROLES
from tests import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "rtcstack"


def import_graph() -> dict[str, set[str]]:
    paths = [p for p in PACKAGE.rglob("*.py") if "share" not in p.relative_to(PACKAGE).parts[:1]]
    return imports.import_graph({p.relative_to(PROJECT_ROOT).as_posix(): p.read_text() for p in paths})


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_rtcstack_modules_import_each_other_without_a_cycle():
    """Reading every module's imports with ast finds no cycle among rtcstack's modules."""
    graph = import_graph()
    assert len(graph) > 50 and "rtcstack.cli.base" in graph["rtcstack.cli.deploy"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a two-module loop is reported as such."""
    assert find_cycle({"a": {"b"}, "b": {"a"}, "c": set()}) == ["a", "b", "a"]


def _role_names_in(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & set(ROLES)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return {name for element in node.elts for name in _role_names_in(element)}
    return set()


def role_branches(path: Path) -> list[str]:
    """`role == "sfu"`, `"turn" in roles`, `x in ("edge", ...)`: comparisons against a role's name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare) and any(
                isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
            names = set().union(*(_role_names_in(side) for side in [node.left, *node.comparators]))
            if names:
                found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def _own_files(role: str) -> set[Path]:
    return {PACKAGE / "roles" / f"{role}.py", PROJECT_ROOT / "deploys" / f"{role}.py",
            PACKAGE / "verify" / f"test_{role}.py"}


def test_no_code_outside_a_roles_own_files_branches_on_its_name():
    """The firewall, logins, secrets, edge config and site.py iterate the registry; only a role's own module,
    deploy script and verify tests may compare against its name."""
    own = set().union(*(_own_files(role) for role in ROLES))
    sources = [*PACKAGE.rglob("*.py"), *(PROJECT_ROOT / "deploys").glob("*.py")]
    found = [line for path in sources if path not in own for line in role_branches(path)]
    assert found == []


def test_the_role_branch_finder_finds_a_branch(tmp_path):
    """The check above can fail: a comparison against a role's name is reported."""
    sample = PROJECT_ROOT / "tests" / "unit" / "_sample_branch.py"
    sample.write_text('def f(host):\n    return "turn" in host.roles or host.role == "sfu"\n')
    try:
        assert len(role_branches(sample)) == 2
    finally:
        sample.unlink()


@pytest.mark.parametrize("role", ROLES)
def test_every_role_is_declared_in_its_own_module(role):
    """The registry holds one Role per role module, named after the module."""
    from rtcstack.roles import REGISTRY

    module = __import__(f"rtcstack.roles.{role}", fromlist=["ROLE"])
    assert module.ROLE is REGISTRY[role] and module.ROLE.name == role
