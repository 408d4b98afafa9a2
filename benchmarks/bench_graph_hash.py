"""graph_hash throughput: the compiled op vs a plain-Python (hashlib) implementation of the same
algorithm, measured in the same run.

Data: the 30,001 bundled NAS-Bench-101 graphs, tiled to the size of the whole NB101 space
(423,624 graphs) for the op; the Python reference hashes a random sample of them (its rate does not
depend on the batch). Usage: ``python benchmarks/bench_graph_hash.py [--threads 2] [--sample 3000]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python_tests"))

from reference_graph_hash import module_hash, strip_padding

from nasfast.data import data_path
from nasfast.ops import graph_hash

NB101_SPACE = 423_624


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample", type=int, default=3000, help="graphs hashed by the Python reference")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = np.load(data_path("nb101", "nb101_subset_30k.npz"))
    reps = -(-NB101_SPACE // len(data["key"]))
    adj = torch.as_tensor(data["adjacency"], dtype=torch.uint8).repeat(reps, 1, 1)[:NB101_SPACE]
    ops = torch.as_tensor(data["ops"], dtype=torch.int64).repeat(reps, 1)[:NB101_SPACE]

    rng = np.random.default_rng(0)
    sample = rng.choice(len(data["key"]), args.sample, replace=False)
    graphs = [strip_padding(data["adjacency"][i], data["ops"][i]) for i in sample]
    t_ref = best_time(lambda: [module_hash(m, lab) for m, lab in graphs], 1)
    ref_rate = len(graphs) / t_ref

    rows = [("python hashlib (1 thread)", "cpu", len(graphs), t_ref, ref_rate)]
    for name, fn in [
        ("nb101_fingerprint", torch.ops.nasfast.nb101_fingerprint),
        ("graph_canonical_hash", lambda a, o: torch.ops.nasfast.graph_canonical_hash(a, o, True)),
    ]:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            a, o = adj.to(device), ops.to(device)
            sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
            fn(a[:1024], o[:1024])
            sync()
            t = best_time(lambda fn=fn, a=a, o=o, sync=sync: (fn(a, o), sync()), args.repeats)
            rows.append((f"{name} ({args.threads} threads)" if device == "cpu" else name, device,
                         len(a), t, len(a) / t))
    # Correctness of what was timed: the op's keys equal the stored ones.
    keys = graph_hash.digests_to_hex(graph_hash.nb101_fingerprint(adj[: len(data["key"])], ops[: len(data["key"])]))
    assert keys == list(data["key"]), "fingerprints differ from the stored NB101 keys"

    print(f"torch {torch.__version__}, threads={args.threads}, "
          f"device={'cuda: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu only'}")
    print(f"{'implementation':34s} {'device':6s} {'graphs':>8s} {'seconds':>9s} {'graphs/s':>11s} {'vs python':>9s}")
    for name, device, n, t, rate in rows:
        print(f"{name:34s} {device:6s} {n:8d} {t:9.3f} {rate:11.0f} {rate / ref_rate:8.1f}x")
    print(f"time for all {NB101_SPACE} NB101 graphs: python {NB101_SPACE / ref_rate:.1f} s (extrapolated), "
          + ", ".join(f"{name} on {device} {NB101_SPACE / rate:.3f} s" for name, device, _, _, rate in rows[1:]))


if __name__ == "__main__":
    main()
