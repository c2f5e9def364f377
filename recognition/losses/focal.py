"""Binary focal loss over several attribute tasks, with missing labels masked out.

For a logit x of task t, p_1 = σ(x) and p_0 = 1 - p_1 = σ(-x). The loss of a label c
(Lin et al., "Focal loss for dense object detection", ICCV 2017,
doi:10.1109/ICCV.2017.324, arXiv 1708.02002) is

    FL = -α_{t,c} (1 - p_c)^γ_{t,c} log p_c,

so γ = 0 is class-weighted binary cross-entropy, and γ > 0 shrinks the loss of samples
already classified confidently, leaving the gradient to the hard ones and the rare class.
α and γ are per task and per class, (T, 2) with column c for label c, or one float for
all: Photoface's attributes are skewed differently (few spectacles, few beards), so one
pair does not fit them all. Lin's single α for the positive class is ``[1 - α, α]`` here.

Everything is computed from logits through log σ, with 1 - p_c = p_{1-c}, so
(1 - p_c)^γ = exp(γ log σ(∓x)): no log of 0 and no 0^(γ-1) in the gradient, even for
|x| = 100 in float32 or 0 < γ < 1 where p rounds to 1.

A missing label (mask False) is not guessed: its entry contributes exactly nothing and
gets no gradient, whatever its target holds (NaN included). The mean is over the labelled
entries; with none, the loss is 0 with its graph intact rather than 0/0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REDUCTIONS = ("mean", "sum", "none")


def _per_task(
    value: torch.Tensor | float, name: str, tasks: int, like: torch.Tensor
) -> torch.Tensor:
    """``value`` as a (T, 2) tensor in ``like``'s dtype and device."""
    tensor = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if tensor.ndim != 0 and tuple(tensor.shape) != (tasks, 2):
        raise ValueError(f"{name} must be a float or ({tasks}, 2), got {tuple(tensor.shape)}")
    return tensor.expand(tasks, 2)


def binary_focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    alpha: torch.Tensor | float = 1.0,
    gamma: torch.Tensor | float = 2.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Focal loss of ``logits`` (n, T) against 0/1 ``targets`` where ``mask`` (n, T) is True.

    ``alpha`` and ``gamma`` are (T, 2), column c weighting label c, or floats for all.
    ``reduction``: "mean" over the labelled entries, "sum", or "none" for the (n, T)
    losses with zeros where unlabelled. Half precision is computed in float32.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    if logits.ndim != 2 or targets.shape != logits.shape or mask.shape != logits.shape:
        raise ValueError(
            "logits, targets and mask must all be (n, T), got "
            f"{tuple(logits.shape)}, {tuple(targets.shape)} and {tuple(mask.shape)}"
        )
    dtype = torch.promote_types(logits.dtype, torch.float32)
    mask = mask.to(torch.bool)
    # Unlabelled entries are replaced before any arithmetic, so a NaN there cannot reach
    # the loss or, through torch.where's backward, the gradient.
    x = torch.where(mask, logits.to(dtype), 0.0)
    y = torch.where(mask, targets.to(dtype), 0.0)
    tasks = logits.shape[1]
    a, g = _per_task(alpha, "alpha", tasks, x), _per_task(gamma, "gamma", tasks, x)
    log_p1, log_p0 = F.logsigmoid(x), F.logsigmoid(-x)
    loss_1 = -a[:, 1] * torch.exp(g[:, 1] * log_p0) * log_p1  # label 1: (1 - p_1) = p_0
    loss_0 = -a[:, 0] * torch.exp(g[:, 0] * log_p1) * log_p0  # label 0: (1 - p_0) = p_1
    loss = torch.where(mask, y * loss_1 + (1.0 - y) * loss_0, 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / mask.sum().clamp_min(1).to(dtype)


def class_balanced_alpha(
    targets: torch.Tensor, mask: torch.Tensor, min_count: float = 1.0
) -> torch.Tensor:
    """α (T, 2) ∝ 1/count of each label among the labelled entries, summing to 1 per task.

    With both labels seen this is α_{t,c} = n_{t,1-c} / (n_{t,0} + n_{t,1}): the rare label
    weighs what the common one is frequent. Counts are floored at ``min_count``, so a label
    never seen gets a finite weight (it has no loss terms to weigh anyway) and a task with
    no labels at all gets [0.5, 0.5].
    """
    if targets.ndim != 2 or mask.shape != targets.shape:
        raise ValueError(
            f"targets and mask must both be (n, T), got {tuple(targets.shape)} and "
            f"{tuple(mask.shape)}"
        )
    if not min_count > 0:
        raise ValueError(f"min_count must be positive, got {min_count}")
    dtype = torch.promote_types(targets.dtype, torch.float32)
    mask = mask.to(torch.bool)
    y = torch.where(mask, targets.to(dtype), 0.0)
    ones = y.sum(0)
    zeros = mask.to(dtype).sum(0) - ones
    inverse = 1.0 / torch.stack([zeros, ones], dim=1).clamp_min(min_count)
    return inverse / inverse.sum(1, keepdim=True)
