"""Test set-up: the plain-Python references beside the tests are importable by name, and modules of
tiny networks can ask for one thread (``pytestmark = pytest.mark.usefixtures("one_thread")``)."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="module")
def one_thread():
    # tiny nets: with intra-op threads on a busy machine, OpenMP waits cost ~30 ms per conv (a DARTS
    # forward+backward took 20 s instead of 0.3 s), so such modules run single-threaded
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
