"""nasfast: ranking-based neural architecture search with a compiled C++/CUDA core.

``nasfast.GATESPredictor`` is importable from here (loaded on first use, so ``import nasfast``
stays light). Searches run with ``nasfast.search.run_search`` (a resumable run directory), the spaces ``nasfast.spaces.{nb201,nb101,darts}``,
the benchmark tables ``nasfast.tabular``, the zero-cost proxies ``nasfast.proxies``.
"""

__version__ = "0.1.0"

from nasfast.runtime import apply_env_setting as _apply_env_setting

_apply_env_setting()  # NASFAST_MALLOC=keep (nasfast.runtime)

#: top-level name -> the module that defines it
_LAZY = {"GATESPredictor": "nasfast.predictors"}
__all__ = ["GATESPredictor", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nasfast' has no attribute {name!r}")
