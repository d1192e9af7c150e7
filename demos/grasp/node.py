"""The grasp node: a ROS-style node class that runs without a ROS installation.

It subscribes (conceptually) to a colour image, a depth image and CameraInfo, and its callback runs
once per synchronised :class:`~demos.grasp.frames.Frame`:

    segment (SAM or the classical segmenter) -> crop -> identify against a gallery (restricted to the
    frame's tote manifest when it carries one) -> keep the requested product ids (or all)
    -> suction + parallel-jaw grasp per object

and publishes ROS 2 messages on its output topics through a ``publish(topic, msg, stamp_ns)``
callable (a :class:`~demos.grasp.bag.BagWriter`'s ``write`` or a live ROS publisher shim):
``vision_msgs/Detection2DArray``, ``vision_msgs/Detection3DArray`` (oriented box of each object's
visible surface, :func:`~demos.grasp.geometry.object_box`; objects without depth are left out), two ``geometry_msgs/PoseArray``
(suction, parallel jaw; one pose per object that has a grasp, same order as the detections that
have one) and an annotated ``sensor_msgs/Image``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from demos.grasp import messages as M
from demos.grasp.draw import draw_grasps
from demos.grasp.frames import Frame
from demos.grasp.geometry import Grasp, GraspParams, Pose, object_box, parallel_jaw_grasp, suction_grasp

Publish = Callable[[str, Any, int], None]


@dataclass
class NodeTopics:
    """Input and output topic names (ROS 2 conventions; remap them like ROS remappings)."""

    rgb: str = "/camera/color/image_raw"
    depth: str = "/camera/depth/image_rect_raw"
    camera_info: str = "/camera/color/camera_info"
    detections: str = "/edgevision/detections"
    detections_3d: str = "/edgevision/detections_3d"
    suction: str = "/edgevision/grasps/suction"
    parallel_jaw: str = "/edgevision/grasps/parallel_jaw"
    annotated: str = "/edgevision/annotated"


@dataclass
class ObjectResult:
    """One segmented object of a frame, identified and (if requested) grasped.

    Attributes:
        object_id: ``"<frame name>/<index>"``.
        product_id: top-1 product, ``""`` when below the similarity threshold.
        score: cosine similarity of the top-1 product.
        ranked: the top-k ``(product_id, score)`` list.
        bbox: ``(x, y, w, h)`` pixels.
        mask: ``(H, W) bool``.
        suction, parallel_jaw: the grasps (``ok=False`` with a reason when impossible).
        open_set: top-1 ``(product_id, score)`` against the whole gallery when ``ranked`` was restricted
            to the frame's tote manifest, else None.
    """

    object_id: str
    product_id: str
    score: float
    ranked: list[tuple[str, float]]
    bbox: tuple[int, int, int, int]
    mask: np.ndarray
    suction: Grasp
    parallel_jaw: Grasp
    open_set: tuple[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id,
            "product_id": self.product_id,
            "score": round(float(self.score), 4),
            "ranked": [[p, round(float(s), 4)] for p, s in self.ranked],
            "bbox": [int(v) for v in self.bbox],
            "area_px": int(self.mask.sum()),
            "suction": self.suction.to_dict(),
            "parallel_jaw": self.parallel_jaw.to_dict(),
            **({"open_set_top1": [self.open_set[0], round(float(self.open_set[1]), 4)]} if self.open_set else {}),
        }


@dataclass
class NodeOutput:
    """What one callback produced: objects kept for grasping, stage timings, the annotated image."""

    frame: Frame
    objects: list[ObjectResult]
    proposals: int
    identified: int
    timings_ms: dict[str, float]
    annotated: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)


class GraspNode:
    """Segment -> identify -> grasp, one callback per synchronised RGB-D frame.

    Args:
        segmenter: anything with ``segment(rgb, depth_mm) -> list[Proposal]`` (vision.proposals).
        identifier: ``identification.identifier.Identifier`` (its ``embedder``, ``gallery`` and ``mode``).
        params: grasp tuning.
        products: product ids to grasp; None = every identified object.
        topics: topic names.
        publish: called as ``publish(topic, msg, stamp_ns)`` for every output message; None = no messages.
        min_similarity: top-1 cosine similarity below which an object counts as unidentified.
        top_k: length of each object's ranked product list.
        crop_pad: relative padding of object crops (``vision.crops.crop_object``).
        use_manifest: restrict identification to a frame's tote manifest when it has one (the
            whole-gallery top-1 is still recorded as ``open_set``).
        store: rosbags typestore (default :func:`demos.grasp.messages.make_typestore`).
    """

    name = "edgevision_grasp_node"

    def __init__(
        self,
        segmenter: Any,
        identifier: Any,
        params: GraspParams | None = None,
        products: Sequence[str] | None = None,
        topics: NodeTopics | None = None,
        publish: Publish | None = None,
        min_similarity: float = 0.0,
        top_k: int = 3,
        crop_pad: float = 0.1,
        use_manifest: bool = True,
        store: Any | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.identifier = identifier
        self.params = params or GraspParams()
        self.products = set(products) if products else None
        self.topics = topics or NodeTopics()
        self.publish = publish
        self.min_similarity = float(min_similarity)
        self.top_k = int(top_k)
        self.crop_pad = float(crop_pad)
        self.use_manifest = bool(use_manifest)
        self.store = store if store is not None else M.make_typestore()

    @property
    def input_topics(self) -> dict[str, str]:
        """Subscribed topics by role."""
        t = self.topics
        return {"rgb": t.rgb, "depth": t.depth, "camera_info": t.camera_info}

    @property
    def output_topics(self) -> dict[str, str]:
        """Published topics by role, with their message types."""
        t = self.topics
        return {
            t.detections: M.DETECTION_2D_ARRAY,
            t.detections_3d: M.DETECTION_3D_ARRAY,
            t.suction: M.POSE_ARRAY,
            t.parallel_jaw: M.POSE_ARRAY,
            t.annotated: M.IMAGE,
        }

    # ------------------------------------------------------------ stages

    def _segment(self, frame: Frame) -> list[Any]:
        depth_mm = None
        if frame.depth is not None:
            depth_mm = np.nan_to_num(frame.depth * 1000.0, nan=0.0).astype(np.float32)
        return list(self.segmenter.segment(frame.rgb, depth_mm))

    def _identify(self, frame: Frame, proposals: list[Any]) -> tuple[list[list[tuple[str, float]]], list[Any]]:
        """Ranked products per proposal (within the manifest if used) and the open-set top-1 (or None)."""
        from vision.crops import crop_object

        if not proposals:
            return [], []
        crops = [crop_object(frame.rgb, p.mask, pad=self.crop_pad) for p in proposals]
        ident = self.identifier
        emb = ident.embedder.embed(crops)
        gallery, mode = ident.gallery, ident.mode
        manifest = frame.manifest if self.use_manifest else None
        if manifest is not None and not any(pid in gallery for pid in manifest):
            manifest = None  # nothing of the tote is in the gallery: identify against everything
        ranked, open_set = [], []
        for e in emb:
            ranked.append(list(gallery.search(e[None], k=self.top_k, mode=mode, candidates=manifest)))
            top = gallery.search(e[None], k=1, mode=mode) if manifest is not None else []
            open_set.append(top[0] if top else None)
        return ranked, open_set

    def _grasp(self, frame: Frame, mask: np.ndarray) -> tuple[Grasp, Grasp]:
        if frame.depth is None:
            reason = "input has no depth image"
            return Grasp("suction", False, reason=reason), Grasp("parallel_jaw", False, reason=reason)
        k = frame.intrinsics
        return suction_grasp(mask, frame.depth, k, self.params), parallel_jaw_grasp(mask, frame.depth, k, self.params)

    # ------------------------------------------------------------ callback

    def callback(self, frame: Frame) -> NodeOutput:
        """Process one synchronised frame, publish the output messages and return the results."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        proposals = self._segment(frame)
        t1 = time.perf_counter()
        ranked, open_set = self._identify(frame, proposals)
        t2 = time.perf_counter()
        objects: list[ObjectResult] = []
        skipped = {"unidentified": 0, "not_requested": 0}
        for i, (prop, ranks, open_top) in enumerate(zip(proposals, ranked, open_set, strict=True)):
            pid, score = ranks[0] if ranks else ("", 0.0)
            if score < self.min_similarity:
                pid = ""
            if not pid:
                skipped["unidentified"] += 1
                continue
            if self.products is not None and pid not in self.products:
                skipped["not_requested"] += 1
                continue
            suction, jaw = self._grasp(frame, prop.mask)
            objects.append(ObjectResult(f"{frame.name}/{i}", pid, float(score), ranks, tuple(prop.bbox),
                                        prop.mask, suction, jaw, open_top))
        t3 = time.perf_counter()
        annotated = draw_grasps(frame.rgb, objects, frame.intrinsics)
        t4 = time.perf_counter()
        if self.publish is not None:
            self._publish(frame, objects, annotated)
        t5 = time.perf_counter()
        timings = {"segment": (t1 - t0) * 1e3, "identify": (t2 - t1) * 1e3, "grasp": (t3 - t2) * 1e3,
                   "annotate": (t4 - t3) * 1e3, "publish": (t5 - t4) * 1e3, "total": (t5 - t0) * 1e3}
        identified = len(proposals) - skipped["unidentified"]
        return NodeOutput(frame, objects, len(proposals), identified, timings, annotated, skipped)

    def _publish(self, frame: Frame, objects: list[ObjectResult], annotated: np.ndarray) -> None:
        s, fid, st, t = self.store, frame.frame_id, frame.stamp_ns, self.topics
        publish = self.publish
        assert publish is not None
        records = []
        for obj in objects:
            box = object_box(obj.mask, frame.depth, frame.intrinsics) if frame.depth is not None else None
            pose: Pose | None = box[0] if box is not None else None
            size = (float(box[1][0]), float(box[1][1]), float(box[1][2])) if box is not None else (0.0, 0.0, 0.0)
            x, y, w, h = (float(v) for v in obj.bbox)
            records.append(M.DetectionRecord(object_id=obj.object_id, product_id=obj.product_id, score=obj.score,
                                             bbox=(x, y, w, h), pose=pose, size=size))
        publish(t.detections, M.detections_2d_to_msg(s, records, st, fid), st)
        publish(t.detections_3d, M.detections_3d_to_msg(s, records, st, fid), st)
        suction = [o.suction.pose for o in objects if o.suction.ok and o.suction.pose is not None]
        jaws = [o.parallel_jaw.pose for o in objects if o.parallel_jaw.ok and o.parallel_jaw.pose is not None]
        publish(t.suction, M.pose_array_to_msg(s, suction, st, fid), st)
        publish(t.parallel_jaw, M.pose_array_to_msg(s, jaws, st, fid), st)
        publish(t.annotated, M.image_to_msg(s, annotated, "rgb8", st, fid), st)
