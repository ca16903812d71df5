"""A tiny Burgers dataset (32 points, 12 frames, viscosity drawn per trajectory) and a tiny forced Burgers
card, for tests that need real trajectory files and trained runs in seconds."""

from __future__ import annotations

from pathlib import Path

from sciwm.data.card import Card
from sciwm.data.generate import generate

# A forced Burgers card (actions on modes 1 and 2 every frame), small enough to generate in a second.
FORCED_BURGERS = """
name = "tiny-burgers-forced"
pde = "burgers"
[domain]
length = 6.283185307179586
n = 32
[params]
nu = 0.05
[ic]
kind = "fourier"
modes = 3
[time]
dt = 0.05
save_every = 0.5
frames = 5
[forcing]
modes = [1, 2]
scale = 1.0
[splits]
train = 4
seed = 3
"""

BURGERS = """
name = "tiny-burgers"
pde = "burgers"
[domain]
length = 6.283185307179586
n = {n}
[params]
nu = {{ min = 0.05, max = 0.2, log = true }}
[ic]
kind = "fourier"
modes = 3
[time]
dt = 0.01
save_every = 0.05
frames = 12
[splits]
train = {train}
val = {val}
test = {test}
seed = 0
"""


def burgers_card(n: int = 32, train: int = 8, val: int = 2, test: int = 2) -> Card:
    return Card.from_text(BURGERS.format(n=n, train=train, val=val, test=test))


def burgers_data(out: Path, **sizes: int) -> Path:
    """Generate the tiny Burgers set into `out` (train.h5, val.h5, test.h5); returns `out`."""
    generate(burgers_card(**sizes), out, progress=False)
    return out
