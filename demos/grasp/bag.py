"""rosbag2 input and output for the grasp node (sqlite3 or MCAP storage, read and written with ``rosbags``).

Reading: the colour, depth and CameraInfo topics are validated against the bag's metadata first (a
missing topic is one line listing the topics the bag has), then messages are streamed in bag order
and colour/depth pairs are matched by header stamp within a tolerance, like ROS ``message_filters``'
approximate-time policy for two queues. Intrinsics come from the latest CameraInfo, or from an
intrinsics file when the bag has none. Unmatched images are counted, not silently dropped.

An optional ``/edgevision/tote_manifest`` topic (``std_msgs/String`` JSON ``{"stamp_ns", "products"}``)
gives the product ids in the tote; it is attached to the frame with the same stamp.

Generated scenes (:mod:`demos.grasp.scene`) add ground-truth topics, read here when present:
``/edgevision/ground_truth/instances`` (16UC1 instance labels) and ``/edgevision/ground_truth/objects``
(``std_msgs/String`` JSON), both stamped like the colour image.

Writing: :class:`BagWriter` creates a rosbag2 folder (MCAP by default) and registers connections
lazily per topic.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demos.grasp import messages as M
from demos.grasp.frames import Frame, FrameTruth, check_frame_sizes
from demos.grasp.geometry import Intrinsics
from vision.common.errors import UserError, require_dir

GT_INSTANCES = "/edgevision/ground_truth/instances"
GT_OBJECTS = "/edgevision/ground_truth/objects"
TOTE_MANIFEST = "/edgevision/tote_manifest"


@dataclass
class BagTopics:
    """Input topic names; None = pick the only topic of the right type (depth: name containing 'depth')."""

    rgb: str | None = None
    depth: str | None = None
    camera_info: str | None = None


@dataclass
class BagReadStats:
    """Counts from one pass over a bag (filled while iterating)."""

    rgb_messages: int = 0
    depth_messages: int = 0
    camera_info_messages: int = 0
    frames: int = 0
    unmatched_rgb: int = 0
    unmatched_depth: int = 0
    bad_ground_truth: int = 0
    bad_manifests: int = 0
    topics: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def open_reader(path: str | os.PathLike[str]) -> Any:
    """An opened ``rosbags.rosbag2.Reader``; a folder that is not a rosbag2 is a :class:`UserError`."""
    from rosbags.rosbag2 import Reader

    p = require_dir(path, "rosbag2 folder")
    if not (p / "metadata.yaml").exists():
        raise UserError("is not a rosbag2 folder (no metadata.yaml)", p)
    try:
        reader = Reader(p)
        reader.open()
    except Exception as err:  # noqa: BLE001 - rosbags raises several error types for broken bags
        raise UserError(f"cannot open rosbag2: {err}", p) from err
    return reader


def _topic_list(topics: dict[str, Any]) -> str:
    if not topics:
        return "(none)"
    return ", ".join(f"{name} [{info.msgtype}, {info.msgcount} msgs]" for name, info in sorted(topics.items()))


def resolve_topics(topics: dict[str, Any], wanted: BagTopics, have_intrinsics: bool, path: Path,
                   preferred: BagTopics | None = None) -> BagTopics:
    """Check and complete the topic choice against a bag's ``{topic: TopicInfo}``.

    ``wanted`` names are required to exist; for its None fields a ``preferred`` name is used when the
    bag has it, else the only topic of the right type.

    Raises :class:`UserError` naming the problem and listing every topic of the bag when a requested
    topic is absent, has the wrong type or no messages, or cannot be chosen unambiguously.
    """
    images = [t for t, info in topics.items() if info.msgtype == M.IMAGE and t != GT_INSTANCES]
    infos = [t for t, info in topics.items() if info.msgtype == M.CAMERA_INFO]

    pref = preferred or BagTopics()

    def pick(role: str, given: str | None, candidates: list[str], msgtype: str, default: str | None) -> str | None:
        if given is None and default in topics and topics[default].msgtype == msgtype:
            return default
        if given is not None:
            if given not in topics:
                raise UserError(f"bag has no {role} topic '{given}'; its topics: {_topic_list(topics)}", path)
            if topics[given].msgtype != msgtype:
                raise UserError(f"{role} topic '{given}' has type {topics[given].msgtype}, expected {msgtype}", path)
            return given
        if len(candidates) == 1:
            return candidates[0]
        return None

    depth_like = [t for t in images if "depth" in t.lower()]
    colour_like = [t for t in images if "depth" not in t.lower()]
    depth = pick("depth image", wanted.depth, depth_like, M.IMAGE, pref.depth)
    rgb = pick("colour image", wanted.rgb, [t for t in colour_like if t != depth], M.IMAGE, pref.rgb)
    info = pick("CameraInfo", wanted.camera_info, infos, M.CAMERA_INFO, pref.camera_info)
    if rgb is None or depth is None:
        role = "colour" if rgb is None else "depth"
        raise UserError(
            f"cannot find the {role} image topic (need one sensor_msgs/msg/Image topic for colour and one with "
            f"'depth' in its name, or pass --rgb-topic/--depth-topic); its topics: {_topic_list(topics)}",
            path,
        )
    for role, t in (("colour", rgb), ("depth", depth)):
        if topics[t].msgcount == 0:
            raise UserError(f"{role} topic '{t}' has no messages; its topics: {_topic_list(topics)}", path)
    if (info is None or topics[info].msgcount == 0) and not have_intrinsics:
        raise UserError(
            f"bag has no sensor_msgs/msg/CameraInfo messages; pass --intrinsics K.json; its topics: {_topic_list(topics)}",
            path,
        )
    return BagTopics(rgb=rgb, depth=depth, camera_info=info)


def read_bag_frames(
    path: str | os.PathLike[str],
    topics: BagTopics | None = None,
    intrinsics: Intrinsics | None = None,
    tolerance_ms: float = 20.0,
    depth_scale: float = 0.001,
    stats: BagReadStats | None = None,
    preferred: BagTopics | None = None,
) -> Iterator[Frame]:
    """Synchronised frames of a rosbag2.

    Args:
        topics: required topic names (None fields: ``preferred`` if present, else auto-detected; see
            :func:`resolve_topics`).
        intrinsics: used when the bag has no CameraInfo (CameraInfo wins when present).
        tolerance_ms: largest colour/depth header-stamp difference that still forms a pair.
        depth_scale: metres per unit of 16UC1 depth.
        stats: filled with message counts and unmatched images while iterating.

    Raises :class:`UserError` for missing topics, colour/depth size mismatches, an empty sync result.
    """
    p = Path(path)
    stats = stats if stats is not None else BagReadStats()
    store = M.make_typestore()
    reader = open_reader(p)
    try:
        chosen = resolve_topics(reader.topics, topics or BagTopics(), intrinsics is not None, p, preferred)
        rgb_topic, depth_topic, info_topic = str(chosen.rgb), str(chosen.depth), chosen.camera_info or ""
        stats.topics = {"rgb": rgb_topic, "depth": depth_topic, "camera_info": info_topic}
        wanted = {chosen.rgb, chosen.depth, chosen.camera_info, GT_INSTANCES, GT_OBJECTS, TOTE_MANIFEST} - {None}
        conns = [c for c in reader.connections if c.topic in wanted]
        M.register_bag_types(store, conns)
        tol = int(tolerance_ms * 1e6)
        use_info = chosen.camera_info is not None and reader.topics[chosen.camera_info].msgcount > 0
        rgb_q: deque = deque()
        depth_q: deque = deque()
        truth_inst: dict[int, Any] = {}
        truth_obj: dict[int, dict] = {}
        manifests: dict[int, list[str]] = {}
        pending: list[tuple[Any, Any]] = []
        k_latest: Intrinsics | None = None

        def decode(fn: Any, msg: Any, topic: str, *args: Any) -> Any:
            try:
                return fn(msg, *args)
            except UserError as err:  # name the bag and topic in the one-line message
                raise UserError(f"topic {topic} at stamp {M.stamp_ns(msg)} ns: {err.message}", p) from err

        def make_frame(rgb_msg: Any, depth_msg: Any, k: Intrinsics) -> Frame:
            rgb = decode(M.rgb_from_msg, rgb_msg, rgb_topic)
            depth = decode(M.depth_from_msg, depth_msg, depth_topic, depth_scale)
            stamp = M.stamp_ns(rgb_msg)
            check_frame_sizes(rgb, depth, f"{p} (stamp {stamp} ns)")
            if (k.width, k.height) != (rgb.shape[1], rgb.shape[0]) and k.width and k.height:
                raise UserError(
                    f"camera intrinsics are for {k.width}x{k.height} but the colour image at stamp {stamp} ns is "
                    f"{rgb.shape[1]}x{rgb.shape[0]}", p)
            truth = None
            if stamp in truth_inst and stamp in truth_obj:
                inst = M.labels_from_msg(truth_inst.pop(stamp))
                truth = FrameTruth(instances=inst, objects={int(i): o for i, o in truth_obj.pop(stamp).items()})
            stats.frames += 1
            return Frame(stamp_ns=stamp, rgb=rgb, depth=depth, intrinsics=k, name=f"frame_{stats.frames - 1:06d}",
                         frame_id=rgb_msg.header.frame_id or "camera_color_optical_frame", truth=truth,
                         manifest=manifests.pop(stamp, None))

        for conn, _, raw in reader.messages(connections=conns):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            if conn.topic == chosen.camera_info:
                stats.camera_info_messages += 1
                k_latest = decode(M.intrinsics_from_msg, msg, info_topic)
            elif conn.topic == GT_INSTANCES:
                truth_inst[M.stamp_ns(msg)] = msg
            elif conn.topic == TOTE_MANIFEST:
                try:
                    data = json.loads(msg.data)
                    manifests[int(data["stamp_ns"])] = [str(p) for p in data["products"]]
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    stats.bad_manifests += 1
            elif conn.topic == GT_OBJECTS:
                try:
                    data = json.loads(msg.data)
                    truth_obj[int(data["stamp_ns"])] = data["objects"]
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    stats.bad_ground_truth += 1
            elif conn.topic == chosen.rgb:
                stats.rgb_messages += 1
                rgb_q.append(msg)
            elif conn.topic == chosen.depth:
                stats.depth_messages += 1
                depth_q.append(msg)
            while rgb_q and depth_q:
                ta, tb = M.stamp_ns(rgb_q[0]), M.stamp_ns(depth_q[0])
                if abs(ta - tb) <= tol:
                    pending.append((rgb_q.popleft(), depth_q.popleft()))
                elif ta < tb:
                    rgb_q.popleft()
                    stats.unmatched_rgb += 1
                else:
                    depth_q.popleft()
                    stats.unmatched_depth += 1
            k = k_latest if use_info else intrinsics
            if k is not None and pending:
                for rgb_msg, depth_msg in pending:
                    yield make_frame(rgb_msg, depth_msg, k)
                pending.clear()
        if pending:
            raise UserError(f"no CameraInfo arrived on '{chosen.camera_info}'; pass --intrinsics K.json", p)
        stats.unmatched_rgb += len(rgb_q)
        stats.unmatched_depth += len(depth_q)
        if stats.frames == 0:
            raise UserError(
                f"no colour/depth pair within {tolerance_ms:g} ms ({stats.rgb_messages} colour and "
                f"{stats.depth_messages} depth messages); raise --sync-tolerance-ms", p)
    finally:
        reader.close()


class BagWriter:
    """Write messages into a new rosbag2 folder.

    Usage::

        with BagWriter(out / "detections.mcap") as bag:
            bag.write("/edgevision/grasps/suction", msg, stamp_ns)

    Args:
        path: the rosbag2 folder to create (must not exist).
        storage: ``"mcap"`` or ``"sqlite3"``.
        store: the typestore (defaults to :func:`demos.grasp.messages.make_typestore`).
    """

    def __init__(self, path: str | os.PathLike[str], storage: str = "mcap", store: Any | None = None) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise ValueError(f"storage must be one of {sorted(plugins)}, got {storage!r}")
        self.path = Path(path)
        self.store = store if store is not None else M.make_typestore()
        self._writer = Writer(self.path, version=9, storage_plugin=plugins[storage])
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def write(self, topic: str, msg: Any, stamp_ns: int) -> None:
        """Serialise ``msg`` (CDR) onto ``topic`` at bag time ``stamp_ns``."""
        msgtype = msg.__msgtype__
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=self.store)
            self._connections[topic] = conn
        self._writer.write(conn, int(stamp_ns), self.store.serialize_cdr(msg, msgtype))
        self.counts[topic] = self.counts.get(topic, 0) + 1
