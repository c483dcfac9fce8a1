import sys
from pathlib import Path

# The project is not installed into the venv; make the repository root
# importable so `.venv/bin/pytest tests/directives` works from anywhere.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
