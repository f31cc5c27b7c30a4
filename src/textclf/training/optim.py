"""The optimizer: AdamW, plus fastText's sparse row update for parameter groups that ask for it."""

from __future__ import annotations

import torch


class AdamWSparseRows(torch.optim.AdamW):
    """AdamW, except for parameter groups marked `sparse: True` (the n-gram bag's embedding table,
    which gets sparse gradients): plain SGD on the rows the batch touched, as fastText updates its
    table; no other row moves. Without sparse groups this is exactly AdamW, state_dict included."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            if not group.get("sparse"):
                continue
            for param in group["params"]:
                grad = param.grad
                if grad is None:
                    continue
                if not grad.is_sparse:
                    raise RuntimeError("a parameter group marked sparse got a dense gradient")
                # Dense += sparse sums repeated rows itself, so the gradient is not coalesced
                # first: a third of the time of coalesce + scatter_add_ (measured on the bag).
                param.add_(grad, alpha=-group["lr"])
                param.grad = None  # AdamW below skips parameters without a gradient
        return super().step(closure)


def build_optimizer(groups: list[dict], lr: float, weight_decay: float) -> AdamWSparseRows:
    """AdamWSparseRows over `groups`, on torch's fused AdamW kernel when every parameter allows it
    (floating point, on CPU or CUDA): one kernel over all tensors instead of a Python loop over
    them. On MiniLM (22M parameters, 2 CPU cores) a step takes 8 ms instead of 65 ms; HF Trainer
    uses the same kernel by default on torch >= 2.8."""
    params = [p for group in groups for p in group["params"]]
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return AdamWSparseRows(groups, lr=lr, weight_decay=weight_decay, fused=fused or None)
