"""The package's layers import one way only (docs/architecture.md): a module imports its own
layer, the layers listed before it, and the leaf modules; presentation libraries are
imported by outputs/ and cli/ alone. Function-level imports count too."""

import ast
from pathlib import Path

import polyscan

PACKAGE = Path(polyscan.__file__).parent
ORDER = ["model", "testing", "polyhedral", "cost", "search", "network", "sweep", "outputs",
         "api", "cli"]
LEAVES = {"errors", "files", "caches"}  # import nothing of polyscan but errors
PRESENTATION = {"rich", "matplotlib"}


def layer_of(module: str) -> str:
    """``polyscan.cost.dram.stream`` -> ``cost``; the package itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path``, relative ones resolved."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    package = package.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append((node.lineno, target))
            if node.module is None or node.level and not node.module:  # from . import x
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
    return found


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_layer():
    layers = {layer_of(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts))
              for p in modules()}
    assert layers <= {*ORDER, *LEAVES, "__init__"}, layers - {*ORDER, *LEAVES, "__init__"}


def test_imports_point_one_way():
    wrong = []
    for path in modules():
        source = layer_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for line, target in imports(path):
            if target.split(".")[0] != "polyscan" or target == "polyscan":
                continue
            layer = layer_of(target)
            if source == "__init__":
                allowed = layer != "cli"
            elif source in LEAVES:
                allowed = layer == "errors" or layer == source
            else:
                allowed = layer in LEAVES or layer == source or \
                    (layer in ORDER and ORDER.index(layer) < ORDER.index(source))
            if not allowed:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line}: {source} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_presentation_lives_in_outputs_and_cli():
    wrong = [f"{path.relative_to(PACKAGE)}:{line}: {target}"
             for path in modules() for line, target in imports(path)
             if target.split(".")[0] in PRESENTATION and
             layer_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
             not in ("outputs", "cli")]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_wrong_import(tmp_path, monkeypatch):
    """The rule is not vacuous: a model module importing the search is reported."""
    bad = PACKAGE / "model" / "_bad_import_probe.py"
    bad.write_text("from ..search import optimizer\n")
    try:
        try:
            test_imports_point_one_way()
        except AssertionError as error:
            assert "model imports polyscan.search" in str(error)
        else:
            raise AssertionError("a model module importing search was not reported")
    finally:
        bad.unlink()
