"""Stand-ins for ICHNet in the evaluation tests: an 'encoder' that passes its input through."""

from __future__ import annotations

import torch


class PassThroughEncoder(torch.nn.Module):
    """``encode`` returns the input; ``encode_pooled`` also its channel means (what a gate
    would score). Subclasses give ``heads``."""

    def encode(self, x):
        return x.float()

    def encode_pooled(self, x, stages):
        features = self.encode(x)
        return features, features.mean(dim=(2, 3, 4))

    def forward(self, x):
        return self.heads(self.encode(x))
