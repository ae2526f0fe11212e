"""The xorshift32 lane generators and the draw order of the FPTT update."""

import numpy as np

from fptt.golden.lfsr import MASK32, UpdateDraws, lane_seeds, stream, xorshift32


def test_xorshift32_known_values():
    # Marsaglia (2003): the (13, 17, 5) generator from state 1.
    x, seq = 1, []
    for _ in range(3):
        x = xorshift32(x)
        seq.append(x)
    assert seq == [270369, 67634689, 2647435461]


def test_stream_equals_sequential_steps():
    seeds = lane_seeds(0xDEADBEEF, 3)
    out = stream(seeds, 300)
    for p, s in enumerate(seeds):
        x = int(s)
        for n in range(300):
            x = xorshift32(x)
            assert out[p, n] == x


def test_lane_seeds_are_distinct_and_nonzero():
    seeds = lane_seeds(1, 64)
    assert len(set(seeds.tolist())) == 64 and np.all(seeds > 0) and np.all(seeds <= MASK32)


def test_update_draw_order():
    shapes = {"w_in": (5, 3), "w_rec": (5, 5), "w_out": (2, 5)}
    lanes = 2
    draws, new = UpdateDraws(shapes, lanes).draw(lane_seeds(99, lanes)[None])
    state = [int(s) for s in lane_seeds(99, lanes)]
    for m, (posts, pres) in shapes.items():
        for pre in range(pres):
            for post in range(posts):
                p = post % lanes
                for k in range(3):
                    state[p] = xorshift32(state[p])
                    assert draws[m][0, k, post, pre] == state[p] >> 16
    assert new[0].tolist() == state


def test_idle_lane_keeps_its_state():
    seeds = lane_seeds(7, 4)[None]
    _, new = UpdateDraws({"w_in": (2, 3)}, 4).draw(seeds)
    assert new[0, 2] == seeds[0, 2] and new[0, 3] == seeds[0, 3]
    assert new[0, 0] != seeds[0, 0]
