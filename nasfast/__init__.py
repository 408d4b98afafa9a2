"""nasfast: ranking-based neural architecture search with a compiled C++/CUDA core."""

__version__ = "0.1.0"
