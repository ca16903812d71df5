"""Every shipped training config parses into a buildable model for its dataset card's data shape."""

import json
from pathlib import Path

import pytest
import torch

from sciwm.data.card import Card
from sciwm.data.generate import _attrs
from sciwm.data.windows import physics_of
from sciwm.models import DataSpec, build_model
from sciwm.pdes import family
from sciwm.runconfig import RunConfig

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "sciwm" / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds_a_model_that_maps_its_data_to_the_next_frame(path):
    cfg = RunConfig.load(path)
    card = Card.load(ROOT / "datasets" / f"{Path(cfg.data.train).parent.name}.toml")
    channels = len(family(card.pde).fields)
    n_action = cfg.data.time_stride * 2 * len(card.forcing.modes) if card.forcing else 0  # s per-frame actions
    physics = json.loads(physics_of(_attrs(card, "train")))  # what `sciwm generate` writes, as training reads it
    physics.update(time_stride=cfg.data.time_stride, mean=[0.0] * channels, std=[1.0] * channels)
    spec = DataSpec(channels=channels, grid=card.grid.shape, history=cfg.data.history,
                    n_params=len(card.sampled_params), n_action=n_action,
                    forcing=json.dumps(card.forcing_attr()) if card.forcing else "", physics=json.dumps(physics))
    model = build_model(cfg.model, spec)
    hist = torch.zeros(2, cfg.data.history, channels, *card.grid.shape)
    params = torch.zeros(2, spec.n_params) if spec.n_params else None
    action = torch.zeros(2, n_action) if n_action else None
    with torch.no_grad():
        out = model(hist, params, action)
    assert out.shape == (2, channels, *card.grid.shape)
    assert torch.isfinite(out).all()
