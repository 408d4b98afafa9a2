"""Trainable networks built from a search-space spec (used by the proxies and the super-net).

- ``nb201``: the NAS-Bench-201 network as the zero-cost-proxy reference builds it, one arch per
  module (``NB201Network``), its seeded initial weights alone (``nb201_weights``, what the proxy
  table stacks); ``nb201_batched``: many archs with independent weights at once (``BatchedNB201``).
- ``nb101``: the NAS-Bench-101 network; ``darts``: the DARTS evaluation network.
"""

from nasfast.models.nb201 import (
    NB201Network,
    NB201Weights,
    has_input_output_path,
    nb201_network,
    nb201_weights,
)

__all__ = ["NB201Network", "NB201Weights", "has_input_output_path", "nb201_network", "nb201_weights"]
