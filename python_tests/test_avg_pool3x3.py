"""avg_pool3x3 op: agreement with torch's AvgPool2d(3, 1, 1, count_include_pad=False) in float64,
gradients (first and second order), opcheck, errors, CPU vs CUDA."""

from __future__ import annotations

import pytest
import torch

from nasfast.ops.avg_pool3x3 import avg_pool3x3

SHAPES = [(2, 3, 5, 7), (1, 1, 1, 1), (1, 2, 1, 5), (3, 2, 6, 1), (2, 2, 2, 2), (4, 16, 32, 32)]


def reference(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


@pytest.mark.parametrize("shape", SHAPES)
def test_matches_torch_float64(shape):
    x = torch.randn(*shape, dtype=torch.float64)
    torch.testing.assert_close(avg_pool3x3(x), reference(x), rtol=1e-13, atol=1e-13)
    g = torch.randn(*shape, dtype=torch.float64)
    xr = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(reference(xr), xr, g)
    (got,) = torch.autograd.grad(avg_pool3x3(xr), xr, g)
    torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-13)


def test_float32_and_non_contiguous_input():
    x = torch.randn(3, 8, 9, 11, dtype=torch.float64)
    torch.testing.assert_close(avg_pool3x3(x.float()).double(), reference(x), rtol=1e-6, atol=1e-6)
    xt = x.transpose(2, 3)  # a strided view
    torch.testing.assert_close(avg_pool3x3(xt), reference(xt.contiguous()))
    xcl = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(avg_pool3x3(xcl), reference(x), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shape", [(2, 5, 6, 7), (1, 3, 1, 4), (2, 16, 32, 32)])
def test_channels_last_stays_channels_last(shape):
    x = torch.randn(*shape, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    y = avg_pool3x3(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, reference(x.contiguous()), rtol=1e-13, atol=1e-13)
    g = torch.randn(*shape, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    back = torch.ops.nasfast.avg_pool3x3_backward(g)
    assert back.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(back, torch.ops.nasfast.avg_pool3x3_backward(g.contiguous()), rtol=1e-13, atol=1e-13)
    xr = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(avg_pool3x3, (xr[:1, :2, :4, :4].contiguous(memory_format=torch.channels_last)
                                                  .detach().requires_grad_(True),))


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 1, 1, 3), (1, 2, 2, 1)])
def test_gradcheck_and_gradgradcheck(shape):
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(avg_pool3x3, (x,))
    assert torch.autograd.gradgradcheck(avg_pool3x3, (x,))
    g = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(torch.ops.nasfast.avg_pool3x3_backward, (g,))


def test_opcheck():
    for op in (torch.ops.nasfast.avg_pool3x3.default, torch.ops.nasfast.avg_pool3x3_backward.default):
        for shape in ((2, 3, 5, 7), (1, 1, 1, 1)):
            torch.library.opcheck(op, (torch.randn(*shape, dtype=torch.float64, requires_grad=True),))
        x = torch.randn(2, 3, 4, 5, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
        torch.library.opcheck(op, (x.requires_grad_(True),))


def test_empty_input():
    assert avg_pool3x3(torch.zeros(0, 3, 4, 4)).shape == (0, 3, 4, 4)
    assert avg_pool3x3(torch.zeros(2, 3, 0, 4)).shape == (2, 3, 0, 4)


def test_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="dtype float32 or float64"):
        avg_pool3x3(torch.zeros(1, 1, 3, 3, dtype=torch.int64))
    with pytest.raises(RuntimeError, match=r"\(N, C, H, W\)"):
        avg_pool3x3(torch.zeros(3, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])  # float32: the batched proxies' dtype
def test_cuda_matches_cpu(shape, dtype):
    x = torch.randn(*shape, dtype=dtype)
    torch.testing.assert_close(avg_pool3x3(x.cuda()).cpu(), avg_pool3x3(x))
    xcl = x.contiguous(memory_format=torch.channels_last)
    ycl = avg_pool3x3(xcl.cuda())
    assert ycl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(ycl.cpu(), avg_pool3x3(x))
    g = torch.randn(*shape, dtype=dtype)
    torch.testing.assert_close(torch.ops.nasfast.avg_pool3x3_backward(g.cuda()).cpu(),
                               torch.ops.nasfast.avg_pool3x3_backward(g))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_opcheck_cuda():
    for op in (torch.ops.nasfast.avg_pool3x3.default, torch.ops.nasfast.avg_pool3x3_backward.default):
        x = torch.randn(2, 3, 5, 7, dtype=torch.float64, device="cuda")
        torch.library.opcheck(op, (x.requires_grad_(True),))
        xcl = torch.randn(2, 3, 4, 5, dtype=torch.float64, device="cuda").contiguous(memory_format=torch.channels_last)
        torch.library.opcheck(op, (xcl.requires_grad_(True),))
