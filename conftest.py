"""Test-session set-up shared by ``tests/`` and the doctests in ``sktensorflow/``."""

import os

# scikit-learn's array-API estimator check runs only when SciPy's array-API
# support is on, and SciPy reads this variable once, at import: set it before
# anything imports SciPy so the whole check suite runs with nothing skipped.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
