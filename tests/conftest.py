"""Test-wide settings.

Each pytest-xdist worker runs torch on one intra-op thread: with two workers on two cores, torch's
default of one thread per core makes the threads wait on each other (a 64x64 FFT measured 6 ms with 2
threads on a busy core pair against 34 us with 1). The tests check numbers, not speed.
"""

import torch

torch.set_num_threads(1)
