"""Zero-cost proxies: definitions, the one-network-at-a-time path, and the batched NB201 evaluator."""

from nasfast.proxies.definitions import PROXIES, ProxyInfo, check_proxy_names
from nasfast.proxies.nb201_batched import nb201_proxies_batched
from nasfast.proxies.single import compute_proxies

__all__ = ["PROXIES", "ProxyInfo", "check_proxy_names", "compute_proxies", "nb201_proxies_batched"]
