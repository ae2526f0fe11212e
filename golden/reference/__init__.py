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

With plain SGD (each parameter's own step ``cfg.fptt.lr``, the default of
``optimizer="sgd"``), no clipping, the triangle surrogate, the detached reset
and the MSE loss, :class:`FPTTTrainer` with parts of ``L`` steps is the float
twin (:class:`fptt.golden.twin.FloatTwin`, ``cfg.window = L``), biases
included, to float64 precision. Adam and Adamax take one step for every
parameter (default ``1e-3``) unless ``lr`` is a dict / ``LearningRates``, which
makes one parameter group per parameter (for Adam the step then scales each
parameter's normalised update).

As released (Kag & Saligrama; Yin et al.'s sFPTT), and the defaults here: the
auxiliary loss's class memory ``Q`` (:mod:`.losses`); ``W ← W̄`` after every
epoch is :meth:`FPTTTrainer.end_epoch` with ``reset_to_mean=True``
(``fptt.train.TrainSettings.reset_to_mean``, off by default); the
multi-Gaussian surrogate presets ``"mg-sfptt"`` (σ = 0.3) and ``"mg-srnn"``
(σ = 0.5, the earlier ALIF code) in :mod:`.surrogate`.
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
