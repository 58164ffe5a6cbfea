import importlib.util
import sys
from pathlib import Path

# the synthetic-run helper lives beside the dynamics tests
_spec = importlib.util.spec_from_file_location(
    "dynamics_synthetic", Path(__file__).resolve().parents[1] / "dynamics" / "dynamics_synthetic.py"
)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
sys.modules.setdefault("dynamics_synthetic", _module)
