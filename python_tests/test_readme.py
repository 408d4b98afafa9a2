"""README's Python example runs as written (at a small size), so a copied snippet works."""

from __future__ import annotations

import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"README should have one python block with {marker!r}, found {len(found)}"
    return found[0]


def test_predictor_and_search_example_runs(tmp_path, monkeypatch):
    code = _block("GATESPredictor")
    small = code.replace("epochs=200", "epochs=2").replace("budget=200", "budget=20")
    assert small.count("epochs=2)") == 1 and "budget=20," in small  # the sizes this test shrinks are there
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(small, str(README), "exec"), scope)
    assert scope["scores"].shape == (15625,)
    assert (tmp_path / "nb201.pt").is_file()
    saved = json.loads((tmp_path / "runs" / "rea" / "result.json").read_text())
    assert saved["evaluations"] == 20 and saved["best_arch"] == scope["result"]["best_arch"]
