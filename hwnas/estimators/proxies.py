"""Zero-cost proxies for NB201 architectures, a registry by name.

Each proxy scores an untrained network built with a fixed seed; higher means "predicted more
accurate". Proxies computed from the same pass share it (`synflow` and `logsynflow` use one backward
pass; `naswot` and `jacob_cov` one forward pass; `snip` and `grad_norm` one loss backward), so asking
for several costs little more than asking for one.

- `synflow` (no data; Tanaka et al., 2020): sum over conv/linear weights of abs(w * dR/dw), where R is
  the summed output of the BN-free network with absolute weights on an all-ones input, in float64.
- `logsynflow` (no data; Cavagnero et al., FreeREA 2023): synflow with dR/dw replaced by log(dR/dw + 1).
- `naswot` (images; Mellor et al., 2021): log-determinant of the Hamming-similarity kernel of the
  batch's ReLU activation codes.
- `jacob_cov` (images; Mellor et al., v1): -sum(log(v + k) + 1/(v + k)) over the eigenvalues v of the
  correlation matrix of the per-image input Jacobians, k = 1e-5.
- `snip` (images and labels; Lee et al., 2019): sum of abs(w * dL/dw) for the cross-entropy loss.
- `grad_norm` (images and labels): sum over conv/linear layers of the L2 norm of dL/dw.
- `params`, `flops` (no data): parameters and FLOPs in millions from `hwnas.spaces.nb201.cost` (analytic).

Values can be non-finite (a singular NASWOT kernel gives -inf; synflow can overflow float64 to +inf);
they are returned as they are and `hwnas.estimators.zero_cost` applies its documented rule to them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import torch
from torch import nn

from hwnas.core.space import Architecture
from hwnas.errors import UsageError
from hwnas.estimators.inputs import ImageBatch

JACOB_COV_K: Final = 1e-5


@dataclass(frozen=True, slots=True)
class Proxy:
    """A registered proxy: its name, whether it needs an image batch, and the pass that computes it."""

    name: str
    needs_data: bool
    probe: str
    summary: str


PROXIES: Final[dict[str, Proxy]] = {
    proxy.name: proxy
    for proxy in (
        Proxy("synflow", False, "synflow", "synaptic flow of the BN-free network (float64, all-ones input)"),
        Proxy("logsynflow", False, "synflow", "synflow with log(1 + gradient)"),
        Proxy("naswot", True, "activations", "log-det of the ReLU-code Hamming kernel"),
        Proxy("jacob_cov", True, "activations", "input-Jacobian correlation score"),
        Proxy("snip", True, "loss_gradient", "connection sensitivity |w * dL/dw|"),
        Proxy("grad_norm", True, "loss_gradient", "sum of per-layer gradient norms"),
        Proxy("params", False, "analytic", "parameters (M), analytic"),
        Proxy("flops", False, "analytic", "forward multiply-accumulates (M), analytic"),
    )
}


def check_proxy_names(names: Iterable[str]) -> tuple[str, ...]:
    """The names as a tuple, or a `UsageError` naming the first unknown one and the accepted names."""
    names = tuple(names)
    for name in names:
        if name not in PROXIES:
            raise UsageError(f"unknown proxy {name!r}; accepted: {', '.join(PROXIES)}")
    if not names:
        raise UsageError("no proxy named; accepted: " + ", ".join(PROXIES))
    return names


def _weighted_layers(net: nn.Module) -> list[nn.Conv2d | nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def synflow_scores(arch: Architecture, dataset: str, seed: int) -> dict[str, float]:
    """`synflow` and `logsynflow` from one backward pass of the BN-free float64 network."""
    side, _ = arch.space.input_shape(dataset)
    net = arch.space.build_network(arch, dataset, seed=seed, batch_norm=False).double()
    with torch.no_grad():
        for param in net.parameters():
            param.abs_()
    ones = torch.ones(1, 3, side, side, dtype=torch.float64)
    net(ones).sum().backward()
    synflow = logsynflow = 0.0
    with torch.no_grad():
        for layer in _weighted_layers(net):
            grad = layer.weight.grad
            if grad is None:  # a layer the output never reaches (e.g. behind a `none` edge only)
                continue
            synflow += float((layer.weight * grad).abs().sum())
            logsynflow += float((layer.weight * torch.log1p(grad)).abs().sum())
    return {"synflow": synflow, "logsynflow": logsynflow}


class _HammingKernel:
    """Accumulates NASWOT's kernel K[i, j] = number of ReLU units on which images i and j agree.

    With binary codes c (1 = active), agreements = c_i.c_j + (1 - c_i).(1 - c_j)
    = 2 c_i.c_j + units - |c_i| - |c_j|, so one Gram product and the row sums per layer suffice, and
    memory holds one activation map at a time. float32 sums of integers are exact below 2**24, far
    above the unit count of any NB201 network.
    """

    def __init__(self, batch_size: int) -> None:
        self.gram = torch.zeros(batch_size, batch_size)
        self.active = torch.zeros(batch_size)
        self.units = 0

    def __call__(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        codes = (output.detach() > 0).flatten(1).to(torch.float32)
        self.gram += codes @ codes.T
        self.active += codes.sum(1)
        self.units += codes.shape[1]

    def log_determinant(self) -> float:
        """Log det K, or -inf when K is singular (two images with identical codes)."""
        gram, active = self.gram.to(torch.float64), self.active.to(torch.float64)
        kernel = 2 * gram + self.units - active[:, None] - active[None, :]
        sign, logdet = torch.linalg.slogdet(kernel)
        return float(logdet) if float(sign) > 0 else -math.inf


def jacob_cov_from_jacobians(jacobians: torch.Tensor) -> float:
    """Mellor et al.'s score on the (N, D) per-image input Jacobians."""
    corr = torch.corrcoef(jacobians.to(torch.float64))
    if not torch.isfinite(corr).all():  # a constant Jacobian (output independent of the input)
        return -math.inf
    eigenvalues = torch.linalg.eigvalsh(corr)
    return float(-torch.sum(torch.log(eigenvalues + JACOB_COV_K) + 1.0 / (eigenvalues + JACOB_COV_K)))


def activation_scores(
    arch: Architecture, dataset: str, seed: int, batch: ImageBatch, wanted: Iterable[str]
) -> dict[str, float]:
    """`naswot` and/or `jacob_cov` from one forward pass in train-mode BN (the autograd pass only for jacob_cov)."""
    wanted = set(wanted)
    net = arch.space.build_network(arch, dataset, seed=seed)
    kernel = _HammingKernel(len(batch.images))
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)] if "naswot" in wanted else []
    handles = [m.register_forward_hook(kernel) for m in relus]
    scores: dict[str, float] = {}
    try:
        if "jacob_cov" in wanted:
            net.requires_grad_(False)  # only the input gradient is needed: skip every weight gradient
            images = batch.images.clone().requires_grad_(True)
            (jacobians,) = torch.autograd.grad(net(images).sum(), images)
            scores["jacob_cov"] = jacob_cov_from_jacobians(jacobians.flatten(1))
        else:
            with torch.no_grad():
                net(batch.images)
    finally:
        for handle in handles:
            handle.remove()
    if "naswot" in wanted:
        scores["naswot"] = kernel.log_determinant()
    return scores


def loss_gradient_scores(arch: Architecture, dataset: str, seed: int, batch: ImageBatch) -> dict[str, float]:
    """`snip` and `grad_norm` from one cross-entropy backward pass in train-mode BN."""
    net = arch.space.build_network(arch, dataset, seed=seed)
    nn.functional.cross_entropy(net(batch.images), batch.labels).backward()
    snip = grad_norm = 0.0
    with torch.no_grad():
        for layer in _weighted_layers(net):
            grad = layer.weight.grad
            if grad is None:
                continue
            snip += float((layer.weight * grad).abs().sum())
            grad_norm += float(grad.norm())
    return {"snip": snip, "grad_norm": grad_norm}


def analytic_scores(arch: Architecture, dataset: str) -> dict[str, float]:
    """`params` and `flops` from the space's analytic cost model (NB201: millions), those the space has."""
    costs = arch.space.analytic_costs(dataset) or {}
    return {name: cost(arch) for name, cost in costs.items() if name in ("params", "flops")}


@dataclass(frozen=True)
class ProxyResult:
    """Proxy values for one architecture, with the input they were computed on and the time taken."""

    values: dict[str, float]
    input_source: str
    seconds: float


def compute_proxies(
    arch: Architecture,
    names: Iterable[str],
    *,
    dataset: str,
    seed: int = 0,
    batch: ImageBatch | None = None,
) -> ProxyResult:
    """Compute the named proxies for one architecture, each probe pass at most once.

    Data-dependent proxies need `batch`; the result records its `source` ("none" if no proxy used data).
    Torch's global RNG is left as it was.
    """
    names = check_proxy_names(names)
    wanted = {PROXIES[n].probe for n in names}
    data_needed = [n for n in names if PROXIES[n].needs_data]
    if data_needed and batch is None:
        raise UsageError(f"proxies {', '.join(data_needed)} need an image batch")
    start = time.perf_counter()
    values: dict[str, float] = {}
    if "synflow" in wanted:
        values.update(synflow_scores(arch, dataset, seed))
    if batch is not None and "activations" in wanted:
        values.update(activation_scores(arch, dataset, seed, batch, names))
    if batch is not None and "loss_gradient" in wanted:
        values.update(loss_gradient_scores(arch, dataset, seed, batch))
    if "analytic" in wanted:
        values.update(analytic_scores(arch, dataset))
    missing = [n for n in names if n not in values]
    if missing:
        raise UsageError(f"space {arch.space.name} cannot give proxy {', '.join(missing)} (no such analytic cost)")
    return ProxyResult(
        values={n: values[n] for n in names},
        input_source=batch.source if data_needed and batch is not None else "none",
        seconds=time.perf_counter() - start,
    )
