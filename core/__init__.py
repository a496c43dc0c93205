"""NetBuilder core: graph model, layer registry, shape inference, code generation and training.

Plain Python and torch only: nothing in this package imports Qt (``tests/test_no_qt.py`` enforces it).
"""

__version__ = "0.1.0"
