"""core/ must never import Qt, nor the GUI except for the one launch call in ``netbuilder.core.cli.main``."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import netbuilder.core as core

ROOT = Path(__file__).resolve().parent.parent


def _core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(core.__path__, "netbuilder.core.")
                  if not m.name.endswith("__main__"))


def test_core_imports_without_qt(tmp_path: Path) -> None:
    modules = _core_modules()
    assert "netbuilder.core.model.graph" in modules and len(modules) >= 30
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'pyqtgraph'):
            raise ImportError('Qt is blocked in core: ' + name)
        return None
sys.meta_path.insert(0, Block())
import importlib
for m in {modules!r}:
    importlib.import_module(m)
loaded = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')]
assert not loaded, loaded
gui = [m for m in sys.modules if m.startswith('netbuilder.gui')]
assert not gui, gui
print('ok', len({modules!r}))
"""
    # Run outside the checkout so that nothing but the installed `netbuilder` package can be imported.
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def _imported_names(path: Path) -> set[str]:
    """Every module named by an import statement or an importlib/__import__ call with a literal."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("netbuilder."):
            names.add(node.value)
    return names


def test_core_reaches_gui_only_through_the_launch_call() -> None:
    offenders = {}
    for path in sorted((ROOT / "core").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        bad = {n for n in _imported_names(path)
               if n.split(".")[0] in ("gui", "PySide6", "pyqtgraph") or n.startswith("netbuilder.gui")}
        if rel == "core/cli/main.py":
            bad -= {"netbuilder.gui.app", "netbuilder.gui"}  # the launch and its ImportError check
        if bad:
            offenders[rel] = sorted(bad)
    assert not offenders, offenders
