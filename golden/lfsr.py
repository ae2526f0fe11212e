"""Random draws for stochastic rounding: one xorshift32 generator per lane.

Generator
---------
Marsaglia's xorshift32 (shifts 13, 17, 5), a linear feedback shift generator
over GF(2) with period ``2**32 - 1`` on the non-zero states::

    x ^= (x << 13) mod 2**32
    x ^= x >> 17
    x ^= (x << 5) mod 2**32

In hardware one step is three XOR layers, no multiplier. One **draw** is one
step; its value is the top 16 bits of the new state, ``x >> 16``.

Lanes and seeds
---------------
The core has ``lanes`` generators, one per RTL lane. Lane ``p`` starts at
``seed_p = (lfsr_seed · (2p + 1)) mod 2**32`` (non-zero because ``2p + 1`` is
odd and ``lfsr_seed`` is non-zero).

Draw order
----------
Only the FPTT update draws, and only when ``rounding = "stochastic"``. At each
window end the synapses are updated matrix by matrix (``w_in``, ``w_rec``,
``w_out``), presynaptic index by presynaptic index, then postsynaptic index
by postsynaptic index: the weight memories hold one presynaptic column per
address range, with the postsynaptic neurons spread over the lanes. Synapse
``W[post, pre]`` belongs to lane ``post mod lanes``. Each synapse takes three
consecutive draws of its lane: for ``w``, then ``λ``, then ``w̄``. A lane
advances only for synapses it owns.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["MASK32", "xorshift32", "lane_seeds", "stream", "UpdateDraws", "DRAWS_PER_SYNAPSE"]

MASK32 = 0xFFFF_FFFF
#: Draws per synapse update: w, λ, w̄.
DRAWS_PER_SYNAPSE = 3


def xorshift32(x):
    """One xorshift32 step (scalars or ``uint64`` arrays holding 32-bit states)."""
    x = x ^ ((x << 13) & MASK32)
    x = x ^ (x >> 17)
    x = x ^ ((x << 5) & MASK32)
    return x


def lane_seeds(seed: int, lanes: int) -> np.ndarray:
    """Start states of the lanes: ``(seed·(2p + 1)) mod 2**32``."""
    return np.array([(seed * (2 * p + 1)) & MASK32 for p in range(lanes)], dtype=np.uint64)


@lru_cache(maxsize=None)
def _jump_tables(log2_steps: int) -> np.ndarray:
    """Byte tables ``[4, 256]`` of the GF(2)-linear map of ``2**log2_steps`` steps.

    The map is linear, so its image of ``x`` is the XOR of the images of the
    four bytes of ``x``.
    """
    cols = np.array([xorshift32(1 << i) for i in range(32)], dtype=np.uint64)
    for _ in range(log2_steps):
        cols = _apply_columns(cols, cols)
    tables = np.zeros((4, 256), dtype=np.uint64)
    byte = np.arange(256, dtype=np.uint64)
    for k in range(4):
        for bit in range(8):
            tables[k] ^= np.where((byte >> np.uint64(bit)) & np.uint64(1) == 1,
                                  cols[8 * k + bit], np.uint64(0))
    return tables


_BITS = np.arange(32, dtype=np.uint64)


def _apply_columns(cols: np.ndarray, x: np.ndarray) -> np.ndarray:
    bits = (x[..., None] >> _BITS) & np.uint64(1)
    return np.bitwise_xor.reduce(bits * cols, axis=-1)


def _apply(tables: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The linear map given by byte ``tables`` applied to states ``x``."""
    x = x.astype(np.int64)
    return (tables[0][x & 255] ^ tables[1][(x >> 8) & 255]
            ^ tables[2][(x >> 16) & 255] ^ tables[3][(x >> 24) & 255])


def stream(states: np.ndarray, n: int) -> np.ndarray:
    """The next ``n`` states of every generator: shape ``states.shape + (n,)``.

    Computed by doubling with jump matrices, so the cost is ``O(32·n)`` vector
    work instead of ``n`` Python-level steps.
    """
    states = np.asarray(states, dtype=np.uint64)
    out = np.empty(states.shape + (max(n, 1),), dtype=np.uint64)
    out[..., 0] = xorshift32(states)
    have, j = 1, 0
    while have < n:
        take = min(have, n - have)
        out[..., have:have + take] = _apply(_jump_tables(j), out[..., :take])
        have += take
        j += 1
    return out[..., :n]


class UpdateDraws:
    """Where each synapse's three draws sit in its lane's stream (cached per shape)."""

    def __init__(self, shapes: dict[str, tuple[int, int]], lanes: int):
        self.lanes = lanes
        self.index: dict[str, np.ndarray] = {}   # [post, pre] synapse's position in its lane
        self.lane: dict[str, np.ndarray] = {}    # [posts] lane of each postsynaptic neuron
        base = np.zeros(lanes, dtype=np.int64)
        for name, (posts, pres) in shapes.items():
            post = np.arange(posts)
            lane = post % lanes
            per_lane = np.array([np.count_nonzero(lane == p) for p in range(lanes)])
            idx = base[lane][:, None] + np.arange(pres)[None, :] * per_lane[lane][:, None] \
                + (post // lanes)[:, None]
            self.index[name] = idx
            self.lane[name] = lane
            base = base + pres * per_lane
        self.per_lane = base  # synapses owned by each lane

    def draw(self, states: np.ndarray):
        """Draw for one update of every core.

        Parameters
        ----------
        states : uint64 array [batch, lanes]

        Returns
        -------
        draws : dict name -> int64 array [batch, 3, post, pre]
            16-bit values for (w, λ, w̄) of every synapse.
        new_states : uint64 array [batch, lanes]
        """
        n = DRAWS_PER_SYNAPSE * int(self.per_lane.max())
        s = stream(states, n)                               # [B, lanes, n]
        last = DRAWS_PER_SYNAPSE * self.per_lane - 1
        new_states = np.where(self.per_lane > 0,
                              s[:, np.arange(self.lanes), np.maximum(last, 0)], states)
        values = (s >> np.uint64(16)).astype(np.int64)
        draws = {}
        for name, idx in self.index.items():
            lane = np.broadcast_to(self.lane[name][:, None], idx.shape)
            k = DRAWS_PER_SYNAPSE * idx
            draws[name] = np.stack([values[:, lane, k + j] for j in range(DRAWS_PER_SYNAPSE)],
                                   axis=1)
        return draws, new_states
