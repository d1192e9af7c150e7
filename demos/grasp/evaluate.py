"""Scores of the grasp node against scene ground truth (generated bags carry it).

Per frame, each ground-truth object (restricted to the requested products, if any) is matched to
the node's object with the highest mask IoU (>= ``iou_threshold``). Figures:

- ``identification_accuracy``: matched objects whose top-1 product is the true one / ground-truth objects
  (an object missed by the segmenter counts as wrong);
- ``identification_accuracy_open_set``: the same with each object's top-1 against the whole gallery
  (differs when identification was restricted to the tote manifest);
- ``grasp_on_right_object``: grasp points (suction contact pixels and jaw centres) that fall on a
  pixel of an instance of the product the node named / all grasps made; also per grasp type;
- ``grasp_on_segmented_object``: grasp points on the true object that the grasped mask matches
  (geometry and segmentation alone, whatever the identification said);
- ``suction_normal_error_deg``: angle between fitted and true top-face normal, for suction grasps
  on the right object (mean and median); ``suction_plane_error_mm``: distance of the contact point
  from the true top-face plane (mean).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from demos.grasp.node import NodeOutput


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``(H, W) bool`` masks (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


class SceneScorer:
    """Accumulates ground-truth comparisons over frames; :meth:`summary` gives the figures."""

    def __init__(self, products: list[str] | None = None, iou_threshold: float = 0.5) -> None:
        self.products = set(products) if products else None
        self.iou_threshold = iou_threshold
        self.gt_objects = 0
        self.matched = 0
        self.correct = 0
        self.correct_open = 0
        self.grasps = {"suction": 0, "parallel_jaw": 0}
        self.on_right = {"suction": 0, "parallel_jaw": 0}
        self.on_own_object = 0
        self.normal_err_deg: list[float] = []
        self.plane_err_mm: list[float] = []
        self.frames = 0

    def add(self, out: NodeOutput) -> dict[str, Any] | None:
        """Score one callback's output; returns the frame's counts, or None if it has no ground truth."""
        truth = out.frame.truth
        if truth is None:
            return None
        self.frames += 1
        labels = truth.instances
        frame = {"gt_objects": 0, "correct": 0, "grasps": 0, "on_right": 0}
        for inst, info in truth.objects.items():
            if self.products is not None and info["product_id"] not in self.products:
                continue
            gt_mask = labels == inst
            frame["gt_objects"] += 1
            ious = [mask_iou(gt_mask, o.mask) for o in out.objects]
            best = int(np.argmax(ious)) if ious else -1
            if best >= 0 and ious[best] >= self.iou_threshold:
                self.matched += 1
                obj = out.objects[best]
                if obj.product_id == info["product_id"]:
                    frame["correct"] += 1
                if (obj.open_set[0] if obj.open_set else obj.product_id) == info["product_id"]:
                    self.correct_open += 1
        for obj in out.objects:
            for grasp in (obj.suction, obj.parallel_jaw):
                if not grasp.ok or grasp.pixel is None:
                    continue
                u, v = (int(round(c)) for c in grasp.pixel)
                inst = int(labels[min(max(v, 0), labels.shape[0] - 1), min(max(u, 0), labels.shape[1] - 1)])
                right = inst in truth.objects and truth.objects[inst]["product_id"] == obj.product_id
                if inst in truth.objects and mask_iou(labels == inst, obj.mask) >= self.iou_threshold:
                    self.on_own_object += 1
                self.grasps[grasp.kind] += 1
                frame["grasps"] += 1
                if right:
                    self.on_right[grasp.kind] += 1
                    frame["on_right"] += 1
                    if grasp.kind == "suction" and grasp.normal is not None and grasp.pose is not None:
                        n_true = np.asarray(truth.objects[inst]["normal"], dtype=np.float64)
                        c_true = np.asarray(truth.objects[inst]["position"], dtype=np.float64)
                        cos = float(np.clip(np.dot(grasp.normal, n_true), -1.0, 1.0))
                        self.normal_err_deg.append(float(np.degrees(np.arccos(cos))))
                        self.plane_err_mm.append(abs(float(np.dot(n_true, grasp.pose.position - c_true))) * 1000.0)
        self.gt_objects += frame["gt_objects"]
        self.correct += frame["correct"]
        return frame

    def summary(self) -> dict[str, Any]:
        """The figures described in the module docstring (None where undefined)."""
        def share(a: int, b: int) -> float | None:
            return a / b if b else None

        total_grasps = sum(self.grasps.values())
        return {
            "frames_with_ground_truth": self.frames,
            "gt_objects": self.gt_objects,
            "segmented_objects_matched": self.matched,
            "identification_accuracy": share(self.correct, self.gt_objects),
            "identification_accuracy_open_set": share(self.correct_open, self.gt_objects),
            "grasps": total_grasps,
            "grasp_on_right_object": share(sum(self.on_right.values()), total_grasps),
            "grasp_on_segmented_object": share(self.on_own_object, total_grasps),
            "suction_on_right_object": share(self.on_right["suction"], self.grasps["suction"]),
            "parallel_jaw_on_right_object": share(self.on_right["parallel_jaw"], self.grasps["parallel_jaw"]),
            "suction_normal_error_deg_mean": float(np.mean(self.normal_err_deg)) if self.normal_err_deg else None,
            "suction_normal_error_deg_median": float(np.median(self.normal_err_deg)) if self.normal_err_deg else None,
            "suction_plane_error_mm_mean": float(np.mean(self.plane_err_mm)) if self.plane_err_mm else None,
        }
