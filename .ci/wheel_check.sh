#!/usr/bin/env bash
# The wheel carries the compiled library and the data: build it, install it into a fresh venv
# (torch and numpy come from the project venv through a .pth, so nothing is downloaded), and use it
# from a directory outside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" -m pip wheel --no-build-isolation --no-deps -q -w "$WORK/dist" .
python3 -m venv "$WORK/venv"
SITE=$("$WORK/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
# Dependencies only: the project venv's site-packages also holds the editable nasfast hook, but a
# path added by a .pth is not a site dir, so that hook's own .pth is never run here.
"$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > "$SITE/project_deps.pth"
"$WORK/venv/bin/python" -m pip install -q --no-deps --no-index "$WORK"/dist/nasfast-*.whl
cd "$WORK"
CHECKOUT="$ROOT" VENV="$WORK/venv" "$WORK/venv/bin/python" - <<'PY'
import os
import nasfast, nasfast.ops
# imported from the fresh venv, not from the checkout
assert nasfast.__file__.startswith(os.environ["VENV"]), nasfast.__file__
assert not nasfast.__file__.startswith(os.environ["CHECKOUT"]), nasfast.__file__
import numpy as np
from nasfast.data import data_path
from nasfast.spaces import nb101, nb201
import nasfast.tabular as tabular
d = np.load(data_path("nb101", "nb101_subset_30k.npz"))
assert nb101.fingerprint(d["adjacency"][:100], d["ops"][:100]) == list(d["key"][:100])
assert len(tabular.load("nb201")) == 15625 and nb201.from_index(6111).index == 6111
print("wheel ok:", nasfast.__file__)
PY
"$WORK/venv/bin/nasfast" search --space nb201 --dataset cifar10 --algo random --budget 20 --seed 1 --out "$WORK/run"
test -s "$WORK/run/history.csv" && test -s "$WORK/run/result.json"
