"""The dependency direction of DESIGN.md, enforced on the packages of modemd/: imports only point down, services
never import each other, pure packages do no I/O, nobody imports a neighbour's private name, and no module imports
itself back through another (no cycles)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "modemd"

# What each package may import besides itself (DESIGN.md, "Dependency direction"). Bottom first.
MAY_IMPORT = {
    "log": set(),
    "codec": set(),
    "domain": {"codec"},
    "config": {"domain", "codec"},
    "at": {"domain", "log"},
    "store": {"domain", "codec", "log"},
    "modem": {"at", "codec", "domain", "config", "log"},   # config: a modem is built from its ModemConfig
    "simulator": {"codec"},
    "services": {"modem", "store", "codec", "domain", "config", "log"},
    "api": {"services", "store", "codec", "domain", "config", "log"},
    "daemon": {"api", "services", "modem", "simulator", "store", "at", "codec", "domain", "config", "log"},
    "cli": {"daemon", "api", "services", "modem", "simulator", "store", "at", "codec", "domain", "config", "log"},
}
TOP_LEVEL = {"__init__", "__main__"}      # the only modules outside a package
PURE = {"codec", "domain", "config"}      # no event loop, no sockets, no threads, no database
IO_MODULES = {"asyncio", "aiohttp", "serial", "serial_asyncio_fast", "sqlite3", "socket", "subprocess", "threading"}


def dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else None


def imports_of(path: Path) -> tuple[set[str], set[str], set[tuple[str, str]]]:
    """(modemd modules, other top-level modules, (module, private name) pairs) imported anywhere in the file,
    lazy imports included. `from pkg import mod` counts as importing pkg.mod."""
    ours, others, private = set(), set(), set()
    here = dotted(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "modemd":
                target = node.module
            else:
                others.add((node.module or "").split(".")[0])
                continue
            for alias in node.names:
                sub = PACKAGE.parent / Path(*f"{target}.{alias.name}".split("."))
                ours.add(f"{target}.{alias.name}" if sub.is_dir() or sub.with_suffix(".py").is_file() else target)
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    private.add((target, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                (ours if alias.name.split(".")[0] == "modemd" else others).add(
                    alias.name if alias.name.startswith("modemd") else alias.name.split(".")[0])
    return ours, others, private


FILES = {dotted(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imports_of(path) for name, path in FILES.items()}


def test_every_module_is_in_a_known_package():
    loose = {name for name in FILES if package_of(name) is None and name.split(".")[-1] not in TOP_LEVEL
             and name != "modemd"}
    unknown = {package_of(name) for name in FILES} - set(MAY_IMPORT) - {None}
    assert not loose and not unknown, f"modules outside the layout: {sorted(loose)}; unknown packages: {unknown}"


def test_every_package_says_what_it_offers():
    for name in MAY_IMPORT:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc.lower() or name == "simulator", f"modemd/{name}/__init__.py: no docstring"


@pytest.mark.parametrize("name", sorted(n for n in FILES if package_of(n)))
def test_imports_point_down(name):
    own = package_of(name)
    upward = {dep for dep in GRAPH[name][0] if package_of(dep) not in MAY_IMPORT[own] | {own, None}}
    assert not upward, f"{name} ({own}) imports from packages it may not: {sorted(upward)}"


def service_of(module: str) -> str:
    """modemd.services.outbox.worker -> outbox: a service is a module or a package right under services/."""
    return module.split(".")[2]


@pytest.mark.parametrize("name", sorted(n for n in FILES if package_of(n) == "services" and n != "modemd.services"))
def test_services_do_not_import_each_other(name):
    others = {dep for dep in GRAPH[name][0]
              if package_of(dep) == "services" and dep != "modemd.services" and service_of(dep) != service_of(name)}
    assert not others, f"{name} imports other services: {sorted(others)}"


@pytest.mark.parametrize("name", sorted(n for n in FILES if package_of(n) in PURE))
def test_pure_packages_do_no_io(name):
    assert GRAPH[name][1] & IO_MODULES == set(), f"{name} imports I/O modules"


@pytest.mark.parametrize("name", sorted(FILES))
def test_no_private_names_from_other_modules(name):
    assert not GRAPH[name][2], f"{name} imports private names: {sorted(GRAPH[name][2])}"


def test_no_import_cycles():
    def visit(node, trail):
        if node in trail:
            raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(node):] + [node]))
        for dep in sorted(GRAPH.get(node, (set(), set(), set()))[0]):
            if dep in GRAPH and dep != node and not FILES[dep].name == "__init__.py":
                visit(dep, trail + [node])
    for name in GRAPH:
        visit(name, [])


def test_only_the_daemon_knows_the_store_backend():
    """Services and the API call the store's interface (modemd/store/__init__.py); the daemon builds a backend.
    The interface itself names no backend and no driver type, and no backend imports another."""
    backends = ("modemd.store.sqlite", "modemd.store.postgres")
    drivers = {"sqlite3", "psycopg", "psycopg_pool"}
    for name, (ours, others, _) in GRAPH.items():
        own = next((b for b in backends if name == b or name.startswith(b + ".")), None)
        if package_of(name) == "daemon":
            continue
        for backend in set(backends) - {own}:
            assert not {dep for dep in ours if dep == backend or dep.startswith(backend + ".")}, \
                f"{name} imports the {backend} backend: take the interface and records from modemd.store"
        if package_of(name) == "store" and own is None:
            assert not drivers & others, f"{name} is part of the store's interface: no database driver there"


@pytest.mark.parametrize("name", sorted(FILES))
def test_no_private_attributes_of_other_objects(name):
    """`other._x` reaches into a neighbour: what two classes share is public (DESIGN.md, "Nobody imports a
    neighbour's _private name"). Only self and cls may be followed by a private name."""
    reaching = [f"line {node.lineno}: {ast.unparse(node)}" for node in ast.walk(ast.parse(FILES[name].read_text()))
                if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))]
    assert not reaching, f"{name} reaches into other objects: {reaching}"
