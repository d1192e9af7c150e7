"""Step budgets, initialisation from M0 and the training sets of every method, with training replaced by
a recorder (fast): what each model starts from, how many steps it gets, which patches it sees."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

import videosr.pipeline as pipeline
from videosr.config import ModelConfig, RunConfig, TrainConfig
from videosr.io import VideoPair, imresize_down
from videosr.synthetic import render_frames
from videosr.train import FitResult


@dataclass
class Call:
    tag: str
    steps: int
    start: torch.Tensor  # flattened weights the model had when its fit began
    items: np.ndarray


def _pair(frames: int) -> VideoPair:
    hr = list(render_frames(frames, 32, 48, seed=4))
    return VideoPair(hr=hr, lr=[imresize_down(f, 2) for f in hr], scale=2, corrupt=0, fps=25.0, cropped_from=(32, 48))


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()]).clone()


def _run(monkeypatch: pytest.MonkeyPatch, frames: int, steps: int, chunks: int, **train: object) -> tuple[dict, np.ndarray, dict]:
    calls: dict[str, Call] = {}

    def fake_fit(model, data, items, n, lr, cfg, tag, seed, work_dir=None, **kw):  # noqa: ANN001, ANN003, ANN202
        calls[tag] = Call(tag, n, _flat(model), np.asarray(items))
        with torch.no_grad():  # "training" leaves a mark unique to this fit
            for p in model.parameters():
                p.add_(1e-3 * (len(calls)))
        return FitResult(steps=n, seconds=0.0)

    monkeypatch.setattr(pipeline, "fit", fake_fit)
    cfg = RunConfig(video="x", scale=2, chunks=chunks, grid=[2, 3], model=ModelConfig(kwargs={"features": 8, "mid_features": 4}),
                    train=TrainConfig(steps=steps, **train))  # type: ignore[arg-type]
    results, _, labels = pipeline.train_methods(cfg, _pair(frames), (2, 3), None)
    return results, labels, calls


def test_equal_budget_splits_exactly_n_more_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    results, labels, calls = _run(monkeypatch, frames=5, steps=10, chunks=3)
    chunk_steps = [calls[f"stdo_chunk{c}"].steps for c in range(3)]
    segment_steps = [calls[f"temporal_{i}"].steps for i in range(3)]
    assert sum(chunk_steps) == 10 and max(chunk_steps) - min(chunk_steps) <= 1
    assert sum(segment_steps) == 10 and max(segment_steps) - min(segment_steps) <= 1
    assert calls["single"].steps == calls["single_long"].steps == calls["stdo_joint"].steps == 10
    steps = {m: r.steps for m, r in results.items()}
    assert steps == {"single": 10, "single_long": 20, "temporal": 20, "stdo": 20, "stdo_joint": 20}
    assert results["stdo"].steps_per_model == [10 + s for s in chunk_steps]
    assert results["temporal"].steps_per_model == [10 + s for s in segment_steps]


def test_fewer_frames_than_segments_and_fewer_steps_than_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    results, _, calls = _run(monkeypatch, frames=2, steps=2, chunks=3)
    assert [calls[f"temporal_{i}"].steps for i in range(2)] == [1, 1] and "temporal_2" not in calls
    assert results["temporal"].steps == 4
    # 2 steps over 3 chunks: two chunks get one step, one gets none; still N more steps in total
    assert sorted(calls.get(f"stdo_chunk{c}", Call("", 0, torch.zeros(0), np.zeros(0))).steps for c in range(3)) == [0, 1, 1]
    assert results["stdo"].steps == 4


def test_per_model_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    results, _, calls = _run(monkeypatch, frames=4, steps=6, chunks=2, budget="per_model")
    assert all(calls[t].steps == 6 for t in ("stdo_chunk0", "stdo_chunk1", "temporal_0", "temporal_1", "stdo_joint"))
    assert results["stdo"].steps == 18 and results["temporal"].steps == 18 and results["stdo_joint"].steps == 12


def test_every_model_starts_from_trained_m0_and_sees_its_patches(monkeypatch: pytest.MonkeyPatch) -> None:
    results, labels, calls = _run(monkeypatch, frames=4, steps=6, chunks=3)
    m0_trained = calls["single"].start + 1e-3  # the recorder's mark of the first fit
    for tag, call in calls.items():
        if tag != "single":
            torch.testing.assert_close(call.start, m0_trained, msg=tag)
    torch.testing.assert_close(_flat(results["single"].models[0]), m0_trained)
    for c in range(3):
        got = {tuple(x) for x in calls[f"stdo_chunk{c}"].items}
        assert got == {tuple(x) for x in np.argwhere(labels == c)} and len(calls[f"stdo_chunk{c}"].items) == len(got)
    # joint model (linear ramp 1, .5, 0): all of chunk 0, half of chunk 1 (no repeats), none of chunk 2
    joint = calls["stdo_joint"].items
    chunk_of = labels[joint[:, 0], joint[:, 1], joint[:, 2]]
    assert len({tuple(x) for x in joint}) == len(joint)
    assert (chunk_of == 0).sum() == (labels == 0).sum()
    assert (chunk_of == 1).sum() == round(0.5 * (labels == 1).sum()) and (chunk_of == 2).sum() == 0
    # temporal: segment i sees every patch of its consecutive frames only
    assert sorted(set(calls["temporal_0"].items[:, 0])) == [0, 1] and sorted(set(calls["temporal_2"].items[:, 0])) == [3]
    assert len(calls["temporal_0"].items) == 2 * 6


def test_scratch_init_chunks_and_custom_joint_fractions(monkeypatch: pytest.MonkeyPatch) -> None:
    results, labels, calls = _run(monkeypatch, frames=4, steps=6, chunks=2, stdo_init="scratch", joint_fractions=[0.5, 0.25])
    m0_trained = calls["single"].start + 1e-3
    assert not torch.allclose(calls["stdo_chunk0"].start, m0_trained)
    assert results["stdo"].steps == 12 and results["stdo"].steps_per_model == [3, 3]
    joint = calls["stdo_joint"].items
    chunk_of = labels[joint[:, 0], joint[:, 1], joint[:, 2]]
    assert (chunk_of == 0).sum() == round(0.5 * (labels == 0).sum()) and (chunk_of == 1).sum() == round(0.25 * (labels == 1).sum())
