"""graph_hash throughput: the compiled op vs a plain-Python (hashlib) implementation of the same
algorithm, measured in the same run.

Data: the 30,001 bundled NAS-Bench-101 graphs, tiled to the size of the whole NB101 space
(423,624 graphs) for the op; the Python reference hashes a random sample of them (its rate does not
depend on the batch). Every time is the best of --repeats runs. The Python reference runs on one
thread, so beside "vs python" the table prints "per thread": the op's rate divided by its thread
count, against Python's one thread.

Checks: ``nb101_fingerprint``'s keys equal the stored NB101 keys. ``graph_canonical_hash`` is a
different algorithm (an exact canonical form, one md5 per graph), so its "vs python" compares
different work; its timed output is checked for what it promises: on the tiled batch, equal
canonical hashes exactly where the fingerprints are equal (the bundled graphs are pairwise
non-isomorphic), and the same hash for 1,000 of the graphs with their inner vertices permuted.
Usage: ``python benchmarks/bench_graph_hash.py [--threads 2] [--sample 3000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
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
    print(f"load average before: {os.getloadavg()}")
    t_ref = best_time(lambda: [module_hash(m, lab) for m, lab in graphs], args.repeats)
    ref_rate = len(graphs) / t_ref

    rows = [("python hashlib (1 thread)", "cpu", len(graphs), t_ref, ref_rate)]
    outputs = {}
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
            res = []
            t = best_time(lambda fn=fn, a=a, o=o, sync=sync, res=res: (res.append(fn(a, o)), sync()), args.repeats)
            outputs[name, device] = res[-1].cpu()
            rows.append((f"{name} ({args.threads} threads)" if device == "cpu" else name, device,
                         len(a), t, len(a) / t))
    # Correctness of what was timed: the op's keys equal the stored ones.
    keys = graph_hash.digests_to_hex(graph_hash.nb101_fingerprint(adj[: len(data["key"])], ops[: len(data["key"])]))
    assert keys == list(data["key"]), "fingerprints differ from the stored NB101 keys"
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        fp = graph_hash.digests_to_hex(outputs["nb101_fingerprint", device])
        canon = graph_hash.digests_to_hex(outputs["graph_canonical_hash", device])
        assert len(set(canon)) == len(set(fp)) == len(set(zip(canon, fp))), \
            f"graph_canonical_hash ({device}): its classes differ from the fingerprints'"
    full = np.nonzero((data["ops"] != -3).all(1))[0][:1000]  # 7-vertex graphs, no padding
    perm_adj, perm_ops = data["adjacency"][full].copy(), data["ops"][full].copy()
    for k in range(len(full)):
        perm = np.concatenate([[0], 1 + rng.permutation(5), [6]])
        perm_adj[k] = perm_adj[k][np.ix_(perm, perm)]
        perm_ops[k] = perm_ops[k][perm]
    moved = graph_hash.digests_to_hex(graph_hash.graph_canonical_hash(perm_adj, perm_ops, prune=True))
    assert moved == [canon[i] for i in full], "graph_canonical_hash changed under a vertex permutation"

    print(f"torch {torch.__version__}, threads={args.threads}, "
          f"device={'cuda: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu only'}")
    print(f"checks passed: fingerprint keys; canonical-hash classes = fingerprint classes on {NB101_SPACE} graphs; "
          f"canonical hash unchanged on {len(full)} permuted graphs. Best of {args.repeats} runs each.")
    print(f"{'implementation':34s} {'device':6s} {'graphs':>8s} {'seconds':>9s} {'graphs/s':>11s} {'vs python':>9s} "
          f"{'per thread':>10s}")
    for name, device, n, t, rate in rows:
        per_thread = f"{rate / args.threads / ref_rate:9.1f}x" if device == "cpu" and n != len(graphs) else ""
        note = "  (a different algorithm)" if name.startswith("graph_canonical_hash") else ""
        print(f"{name:34s} {device:6s} {n:8d} {t:9.3f} {rate:11.0f} {rate / ref_rate:8.1f}x {per_thread:>10s}{note}")
    print(f"time for all {NB101_SPACE} NB101 graphs: python {NB101_SPACE / ref_rate:.1f} s (extrapolated), "
          + ", ".join(f"{name} on {device} {NB101_SPACE / rate:.3f} s" for name, device, _, _, rate in rows[1:]))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
