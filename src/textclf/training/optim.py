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
