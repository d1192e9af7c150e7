from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from demos.cli import main
from export.embedder import export_embedder_from_checkpoint
from export.runtime import make_session
from export.sam import SamDecoderOnnx, decoder_example_inputs, export_sam, prepare_image, tiny_sam
from identification.model import build_embedder, save_embedder
from vision.common.errors import UserError


@pytest.fixture(scope="module")
def embedder_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_embedder("resnet10t", embed_dim=16, neck="bnneck", img_size=64)
    path = tmp_path_factory.mktemp("emb") / "embedder.pt"
    save_embedder(model.eval(), path)
    return path


def _reference_images(root, n_products: int = 3, views: int = 2):
    rng = np.random.default_rng(0)
    for p in range(n_products):
        (root / f"P{p:04d}").mkdir(parents=True)
        base = rng.integers(0, 255, size=3)
        for v in range(views):
            img = np.clip(base + rng.normal(0, 20, size=(50, 70, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / f"P{p:04d}" / f"{v}.png"), img)
    return root


def test_embedder_export_onnx_int8_coreml(embedder_checkpoint, tmp_path) -> None:
    calib = _reference_images(tmp_path / "refs")
    out = tmp_path / "exported"
    args = ["export", "embedder", "--checkpoint", str(embedder_checkpoint), "--formats", "onnx,coreml", "--int8",
            "--calibration", str(calib), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["parity"]["passed"] and report["parity"]["max_abs_error"] <= 1e-4
    assert report["onnx"]["io"]["inputs"] == {"image": [1, 3, 64, 64]}
    assert report["onnx"]["io"]["outputs"] == {"embedding": [1, 16]}
    cost = report["int8"]["cost"]
    assert 0.5 < cost["cosine_mean"] <= 1.0 + 1e-6 and cost["recall@1_fp32"] is not None
    assert report["coreml"]["inputs"] == {"image": [1, 3, 64, 64]} and report["coreml"]["problems"] == []
    assert set(report["files"]) >= {"embedder_fp32.onnx", "embedder_int8.onnx"} and report["source"] == str(embedder_checkpoint)
    emb = make_session(out / "embedder_int8.onnx").run(None, {"image": np.random.rand(1, 3, 64, 64).astype(np.float32)})[0]
    assert emb.shape == (1, 16) and abs(np.linalg.norm(emb) - 1) < 1e-3
    with pytest.raises(UserError, match="calibration"):
        export_embedder_from_checkpoint(embedder_checkpoint, tmp_path / "x", int8=True)
    with pytest.raises(UserError, match="already exists"):
        export_embedder_from_checkpoint(embedder_checkpoint, out)


def test_embedder_int8_cost_is_measured_on_images_held_out_of_calibration(embedder_checkpoint, tmp_path, monkeypatch) -> None:
    """The INT8 cosine/recall used to be measured on the very images the model was calibrated on."""
    import export.quantize
    from export.embedder import load_images, preprocess

    images, labels = load_images(_reference_images(tmp_path / "refs", n_products=3, views=4))
    seen: list[np.ndarray] = []
    real = export.quantize.quantize_onnx
    monkeypatch.setattr(export.quantize, "quantize_onnx", lambda m, o, data, *a, **k: (seen.append(data), real(m, o, data, *a, **k))[1])
    report = export_embedder_from_checkpoint(embedder_checkpoint, tmp_path / "out", int8=True, calibration=tmp_path / "refs")
    int8 = report["int8"]
    held, calib = int8["holdout_indices"], int8["calibration_indices"]
    assert len(held) == 3 and int8["holdout_images"] == 3 and int8["calibration_images"] == 9
    assert sorted(labels[held].tolist()) == ["P0000", "P0001", "P0002"]  # one of each product's 4 views
    data = preprocess(images, (64, 64))
    assert len(seen) == 1 and np.array_equal(seen[0], data[calib])
    assert not any(np.array_equal(data[i], c) for i in held for c in seen[0])
    assert int8["cost"]["recall@1_fp32"] is not None and 0.5 < int8["cost"]["cosine_mean"] <= 1 + 1e-6


def test_sam_decoder_wrapper_matches_segment_anything() -> None:
    sam = tiny_sam()
    dec = SamDecoderOnnx(sam).eval()
    emb, coords, labels, mask_input, has_mask = decoder_example_inputs(sam, points=3)  # last point = padding
    with torch.no_grad():
        masks, iou = dec(emb, coords, labels, mask_input, has_mask)
        sparse, dense = sam.prompt_encoder(points=(coords[:, :2], labels[:, :2]), boxes=None, masks=None)
        ref_masks, ref_iou = sam.mask_decoder(
            image_embeddings=emb, image_pe=sam.prompt_encoder.get_dense_pe(), sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense, multimask_output=True,
        )  # fmt: skip
    torch.testing.assert_close(masks[:, 1:], ref_masks, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(iou[:, 1:], ref_iou, atol=1e-5, rtol=1e-5)


def test_sam_export_tiny(tmp_path) -> None:
    assert main(["export", "sam", "--tiny", "--points", "3", "--out", str(tmp_path / "sam")]) == 0
    report = json.loads((tmp_path / "sam" / "report.json").read_text())
    size = report["image_size"]
    enc_io = report["onnx"]["encoder"]["io"]
    dec_io = report["onnx"]["decoder"]["io"]
    assert enc_io["inputs"] == {"image": [1, 3, size, size]}
    assert dec_io["inputs"]["point_coords"] == [1, 3, 2] and dec_io["inputs"]["point_labels"] == [1, 3]
    assert dec_io["outputs"]["low_res_masks"][:2] == [1, 4] and "orig_im_size" not in dec_io["inputs"]
    assert "Resize" not in report["onnx"]["decoder"]["op_counts"]  # no resize inside the graph
    assert report["parity"]["decoder"]["passed"] and report["parity"]["encoder"]["passed"]
    image, scale = prepare_image(np.zeros((30, 60, 3), np.uint8), size)
    assert image.shape == (1, 3, size, size) and scale == size / 60
    np.testing.assert_allclose(image[0, :, -1, -1], [123.675, 116.28, 103.53], rtol=1e-6)  # mean padding
    with pytest.raises(UserError):
        export_sam(tmp_path / "none")


def test_calibration_images_are_spread_over_all_products(tmp_path) -> None:
    """A limit used to take the first N sorted files: only the first products were calibrated and scored."""
    import cv2
    import numpy as np

    from export.embedder import load_images

    for p in range(4):
        (tmp_path / f"P{p:04d}").mkdir()
        for i in range(10):
            cv2.imwrite(str(tmp_path / f"P{p:04d}" / f"{i:02d}.png"), np.full((4, 4, 3), p * 40 + i, np.uint8))
    images, labels = load_images(tmp_path, limit=8)
    assert len(images) == 8
    assert sorted(set(labels.tolist())) == ["P0000", "P0001", "P0002", "P0003"]
    assert all(np.sum(labels == f"P{p:04d}") == 2 for p in range(4))
