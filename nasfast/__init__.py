"""nasfast: ranking-based neural architecture search with a compiled C++/CUDA core."""

__version__ = "0.1.0"

from nasfast.runtime import apply_env_setting as _apply_env_setting

_apply_env_setting()  # NASFAST_MALLOC=keep (nasfast.runtime)
