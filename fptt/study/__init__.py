"""The study engine behind the notebooks: sweeps, results files, headline numbers, figures.

Modules
-------
common          FAST mode, results directory, CSV/JSON writing, progress bars
runners         batched golden training (several seeds as one batch), reference training
fixed_vs_float  accuracy against weight bits and rounding, saturation profile, window trade-off
fptt_vs_bptt    adding problem against T, memory/time against T, PS-MNIST
summary         headline numbers and the README results table, from the results files
plots           the figures, from the results rows

Set ``FAST=1`` to shrink every sweep to smoke size; results go to
``notebooks/results/`` (``notebooks/results/fast/`` under ``FAST``) unless
``FPTT_RESULTS_DIR`` names another folder. The memory bits of a core
(``MEMORIES``, ``memory_bits``, ``window_buffer_bits``) are product code in
:mod:`fptt.memory`, re-exported here.
"""

from ..memory import MEMORIES, memory_bits, window_buffer_bits
from .common import is_fast, read_csv, results_dir, write_csv

__all__ = ["is_fast", "read_csv", "write_csv", "results_dir", "MEMORIES", "memory_bits",
           "window_buffer_bits"]
