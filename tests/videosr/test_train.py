"""Training: loss goes down on a fixed clip, and an interrupted fit resumes from its last checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from videosr.config import TrainConfig
from videosr.io import imresize_down
from videosr.models import build_sr
from videosr.synthetic import render_frames
from videosr.train import TrainData, fit


def _data() -> TrainData:
    hr = list(render_frames(3, 32, 48, seed=5))
    lr = [imresize_down(f, 2) for f in hr]
    return TrainData.from_frames(lr, hr, (2, 3))


def test_resume_from_last_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    data = _data()
    cfg = TrainConfig(steps=8, batch_size=4, crop=8, checkpoint_every=4)
    model = build_sr("espcn", 2, features=8, mid_features=4)
    first = fit(model, data, data.all_items(), 8, 1e-3, cfg, "m", seed=0, work_dir=tmp_path)
    assert first.resumed_from == 0 and (tmp_path / "m" / "last.ckpt").is_file()
    # a finished fit is reused as is
    again = build_sr("espcn", 2, features=8, mid_features=4)
    reused = fit(again, data, data.all_items(), 8, 1e-3, cfg, "m", seed=0, work_dir=tmp_path)
    assert reused.steps == 8
    for a, b in zip(again.state_dict().values(), model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    # simulate an interruption after step 8 of a 12-step fit: only last.ckpt survives
    (tmp_path / "m.done.pt").unlink()
    (tmp_path / "m.done.json").unlink()
    resumed = fit(build_sr("espcn", 2, features=8, mid_features=4), data, data.all_items(), 12, 1e-3, cfg, "m", 0, tmp_path)
    assert resumed.resumed_from == 8 and resumed.steps == 12


def test_items_select_patches() -> None:
    data = _data()
    items = data.all_items(np.array([1]))
    assert items.shape == (6, 3) and set(items[:, 0]) == {1}
    assert data.all_items().shape == (18, 3)


def test_progress_bar_names_the_model_and_counts_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stock bar showed 'Epoch 0/-2' (max_steps on an infinite sampler)."""
    import io

    import videosr.train as train

    buf = io.StringIO()
    console = {"file": buf, "force_terminal": True, "width": 150, "color_system": None}
    monkeypatch.setenv("EDGEVISION_NO_PROGRESS", "0")
    bar = train.StepProgressBar
    monkeypatch.setattr(train, "StepProgressBar", lambda label: bar(label, console_kwargs=console))
    data = _data()
    cfg = TrainConfig(steps=8, batch_size=4, crop=8, checkpoint_every=4)
    fit(build_sr("espcn", 2, features=8, mid_features=4), data, data.all_items(), 8, 1e-3, cfg, "c1", 0, tmp_path,
        label="stdo chunk 1")
    shown = buf.getvalue()
    assert "stdo chunk 1" in shown and "8/8" in shown and "Epoch" not in shown and "-2" not in shown
    # resumed from the step-8 checkpoint: the bar counts the fit's steps, not the steps of this process
    (tmp_path / "c1.done.pt").unlink()
    (tmp_path / "c1.done.json").unlink()
    buf.seek(0)
    buf.truncate()
    resumed = fit(build_sr("espcn", 2, features=8, mid_features=4), data, data.all_items(), 12, 1e-3, cfg, "c1", 0, tmp_path)
    assert resumed.resumed_from == 8
    assert "c1" in buf.getvalue() and "12/12" in buf.getvalue() and "4/4" not in buf.getvalue()


def test_ctrl_c_inside_a_fit_is_a_keyboard_interrupt_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning turns Ctrl+C into sys.exit(1) and leaves SIGINT ignored; fit restores both conventions."""
    import signal
    import time

    import videosr.train as train

    class Interrupted(train.SRModule):
        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            if self.global_step == 5:
                raise KeyboardInterrupt
            time.sleep(0.1)  # the interrupted run's time up to its checkpoint counts in train_seconds
            return super().training_step(batch, batch_idx)

    monkeypatch.setattr(train, "SRModule", Interrupted)
    data = _data()
    cfg = TrainConfig(steps=8, batch_size=4, crop=8, checkpoint_every=2)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        fit(build_sr("espcn", 2, features=8, mid_features=4), data, data.all_items(), 8, 1e-3, cfg, "m", 0, tmp_path)
    assert signal.getsignal(signal.SIGINT) is handler
    assert (tmp_path / "m" / "last.ckpt").is_file() and not (tmp_path / "m.done.pt").exists()
    monkeypatch.undo()
    resumed = fit(build_sr("espcn", 2, features=8, mid_features=4), data, data.all_items(), 8, 1e-3, cfg, "m", 0, tmp_path)
    assert resumed.resumed_from == 4 and resumed.steps == 8 and (tmp_path / "m.done.pt").is_file()
    assert resumed.seconds >= 0.4  # 4 slow steps before the step-4 checkpoint (the resumed 4 are fast)
