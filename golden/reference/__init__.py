"""Float reference implementations (published FPTT, PyTorch autograd).

The accuracy yardstick of DESIGN section 1: the ALIF network of section 2 as a
``torch.nn.Module`` with a surrogate-gradient spike, trained by full BPTT or by
FPTT as published (section 3), float64 by default.

Modules
-------
surrogate  spike functions ``[v >= 0]`` with triangle / multi-Gaussian surrogates
network    :class:`ALIFNetwork`, :class:`ALIFState`
losses     per-step MSE and cross-entropy, FPTT's auxiliary loss and its class prior ``Q``
common     optimisers (SGD, Adam, Adamax), gradient clipping, batch shapes
bptt       :class:`BPTTTrainer`
fptt       :class:`FPTTTrainer`

With plain SGD, no clipping, the triangle surrogate, the detached reset and the
MSE loss, :class:`FPTTTrainer` with parts of ``L`` steps is the float twin
(:class:`fptt.golden.twin.FloatTwin`, ``cfg.window = L``) to float64 precision.
"""

from .bptt import BPTTTrainer
from .common import OPTIMIZERS, clip_gradients, make_optimizer
from .fptt import FPTTTrainer, part_bounds
from .losses import LOSSES, ClassPrior, aux_beta, aux_loss, ce_loss, mse_loss, sequence_loss
from .network import MATRICES, PARAMS, ALIFNetwork, ALIFState
from .surrogate import SURROGATES, MultiGaussianSpike, TriangleSpike, spike

__all__ = [
    "ALIFNetwork", "ALIFState", "MATRICES", "PARAMS",
    "BPTTTrainer", "FPTTTrainer", "part_bounds",
    "LOSSES", "mse_loss", "ce_loss", "sequence_loss", "aux_beta", "aux_loss", "ClassPrior",
    "OPTIMIZERS", "make_optimizer", "clip_gradients",
    "SURROGATES", "TriangleSpike", "MultiGaussianSpike", "spike",
]
