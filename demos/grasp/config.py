"""Typed configuration of ``edgevision demo grasp`` (YAML in ``configs/demo/grasp.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from demos.grasp.geometry import GraspParams
from demos.grasp.node import NodeTopics
from demos.grasp.scene import SceneConfig


@dataclass
class IdentifyConfig:
    """Identification settings.

    Attributes:
        mode: gallery matching, ``centroid`` (mean reference embedding per product) or ``best_view``.
        min_similarity: top-1 cosine similarity below which an object is left unidentified.
        top_k: ranked products kept per object.
        crop_pad: crop margin around each mask, as a fraction of its longer side.
        batch_size: images per embedder forward pass.
        use_manifest: identify among the products of the frame's tote manifest when the input has one.
    """

    mode: Literal["centroid", "best_view"] = "centroid"
    min_similarity: float = 0.0
    top_k: int = 3
    crop_pad: float = 0.1
    batch_size: int = 32
    use_manifest: bool = True


@dataclass
class SegmentConfig:
    """Segmenter settings: the classical segmenter unless a SAM checkpoint is given on the command line.

    Attributes:
        sam_model: SAM registry name used with ``--sam-checkpoint``.
        sam_preset: automatic mask generation preset of ``vision.sam.SamSegmenter``.
        min_height_mm, depth_jump_mm, min_area: classical segmenter settings (``vision.classical``).
    """

    sam_model: str = "vit_b"
    sam_preset: str = "cpu"
    min_height_mm: float = 8.0
    depth_jump_mm: float = 6.0
    min_area: int = 200


@dataclass
class GraspDemoConfig:
    """Everything ``edgevision demo grasp`` and ``demo grasp-scene`` read from YAML.

    Attributes:
        topics: input and output topic names (input names are preferred when the bag has them,
            else the topics are detected by type).
        sync_tolerance_ms: largest colour/depth stamp difference of a synchronised pair.
        depth_scale: metres per unit of 16UC1 depth in bags.
        storage: output rosbag2 storage, ``mcap`` or ``sqlite3``.
        max_annotated_png: annotated frames written as PNG (all frames go into the output bag).
    """

    topics: NodeTopics = field(default_factory=NodeTopics)
    grasp: GraspParams = field(default_factory=GraspParams)
    identify: IdentifyConfig = field(default_factory=IdentifyConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)
    sync_tolerance_ms: float = 20.0
    depth_scale: float = 0.001
    storage: Literal["mcap", "sqlite3"] = "mcap"
    max_annotated_png: int = 50
