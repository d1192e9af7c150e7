"""ROS 2 messages without ROS: a ``rosbags`` typestore plus numpy <-> message conversions.

Built-in types come from rosbags' ROS 2 Humble store (``sensor_msgs/msg/Image``,
``sensor_msgs/msg/CameraInfo``, ``geometry_msgs/msg/PoseArray``, ``std_msgs/msg/String``). The
``vision_msgs`` types (Detection2DArray, Detection3DArray and their parts, as in vision_msgs 4.x for
Humble) are not built in; :func:`make_typestore` registers their ``.msg`` definitions through rosbags'
type system, so bags written here open in Foxglove/RViz with the usual schemas.

Image conventions used throughout the demo:
- colour: ``(H, W, 3) uint8`` in RGB order (``bgr8`` messages are converted on read);
- depth: ``(H, W) float32`` metres, ``NaN`` where invalid (``16UC1`` is millimetres with 0 = invalid,
  ``32FC1`` is metres with 0/NaN/inf = invalid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from demos.grasp.geometry import Intrinsics, Pose
from vision.common.errors import UserError

VISION_MSGS: dict[str, str] = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/BoundingBox3D": "geometry_msgs/Pose center\ngeometry_msgs/Vector3 size\n",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose": (
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n"
    ),
    "vision_msgs/msg/Detection2D": (
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\nstring id\n"
    ),
    "vision_msgs/msg/Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
    "vision_msgs/msg/Detection3D": (
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox3D bbox\nstring id\n"
    ),
    "vision_msgs/msg/Detection3DArray": "std_msgs/Header header\nvision_msgs/Detection3D[] detections\n",
}

IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POSE_ARRAY = "geometry_msgs/msg/PoseArray"
STRING = "std_msgs/msg/String"
DETECTION_2D_ARRAY = "vision_msgs/msg/Detection2DArray"
DETECTION_3D_ARRAY = "vision_msgs/msg/Detection3DArray"

COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


def make_typestore() -> Any:
    """A rosbags ``Typestore`` with ROS 2 Humble types plus the ``vision_msgs`` definitions above."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    types: dict[str, Any] = {}
    for name, text in VISION_MSGS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


def register_bag_types(store: Any, connections: Any) -> None:
    """Register message types a bag declares (msgdef text) but ``store`` lacks, so any bag can be read."""
    from rosbags.typesys import get_types_from_msg

    for conn in connections:
        if conn.msgtype in store.types:
            continue
        msgdef = getattr(conn, "msgdef", None)
        text = getattr(msgdef, "data", None) if msgdef is not None else None
        if not text or getattr(getattr(msgdef, "format", None), "name", "MSG") != "MSG":
            continue
        try:
            store.register(get_types_from_msg(text, conn.msgtype))
        except Exception:  # noqa: BLE001 - an undecodable side topic is simply not readable
            continue


# ---------------------------------------------------------------- headers and stamps


def split_stamp(stamp_ns: int) -> tuple[int, int]:
    """Nanoseconds since the epoch -> ``(sec, nanosec)`` as in ``builtin_interfaces/msg/Time``."""
    return int(stamp_ns // 1_000_000_000), int(stamp_ns % 1_000_000_000)


def header(store: Any, stamp_ns: int, frame_id: str) -> Any:
    """A ``std_msgs/msg/Header``."""
    sec, nanosec = split_stamp(stamp_ns)
    Time = store.types["builtin_interfaces/msg/Time"]
    return store.types["std_msgs/msg/Header"](stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def stamp_ns(msg: Any) -> int:
    """The header stamp of ``msg`` in nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


# ---------------------------------------------------------------- images


def image_to_msg(store: Any, array: np.ndarray, encoding: str, stamp: int, frame_id: str) -> Any:
    """Pack an image into ``sensor_msgs/msg/Image``.

    Args:
        array: ``(H, W, 3) uint8`` RGB for ``rgb8``/``bgr8`` (given in RGB order; ``bgr8`` swaps on
            write), ``(H, W) uint8`` for ``mono8``, ``(H, W) uint16`` for ``16UC1`` (millimetres),
            ``(H, W) float32`` for ``32FC1`` (metres).
        encoding: one of ``rgb8, bgr8, mono8, 16UC1, 32FC1``.
    """
    if encoding in ("rgb8", "bgr8"):
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            raise ValueError(f"{encoding} needs (H, W, 3) uint8, got {array.shape} {array.dtype}")
        data = array[..., ::-1] if encoding == "bgr8" else array
    elif encoding == "mono8":
        data = np.asarray(array, dtype=np.uint8)
    elif encoding == "16UC1":
        data = np.asarray(array, dtype="<u2")
    elif encoding == "32FC1":
        data = np.asarray(array, dtype="<f4")
    else:
        raise ValueError(f"unsupported image encoding {encoding!r}")
    data = np.ascontiguousarray(data)
    h, w = data.shape[:2]
    return store.types[IMAGE](
        header=header(store, stamp, frame_id),
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=0,
        step=data.strides[0],
        data=data.reshape(-1).view(np.uint8).copy(),
    )


def _rows(msg: Any, bytes_per_pixel: int) -> np.ndarray:
    """The message's pixel bytes as ``(H, W * bytes_per_pixel) uint8`` (row padding dropped)."""
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    raw = np.asarray(msg.data, dtype=np.uint8)
    row_bytes = w * bytes_per_pixel
    if step < row_bytes or raw.size < step * h:
        raise UserError(
            f"image message is truncated: {raw.size} bytes for {h}x{w} {msg.encoding} with step {step}"
        )
    return raw[: step * h].reshape(h, step)[:, :row_bytes]


def rgb_from_msg(msg: Any) -> np.ndarray:
    """``sensor_msgs/msg/Image`` (rgb8, bgr8, rgba8, bgra8, mono8) -> ``(H, W, 3) uint8`` RGB."""
    enc = str(msg.encoding).lower()
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(enc)
    if channels is None:
        raise UserError(f"colour image has encoding {msg.encoding!r}; expected one of {', '.join(COLOR_ENCODINGS)}")
    px = _rows(msg, channels).reshape(int(msg.height), int(msg.width), channels)
    if enc == "mono8":
        return np.repeat(px, 3, axis=2)
    px = px[..., :3]
    if enc.startswith("bgr"):
        px = px[..., ::-1]
    return np.ascontiguousarray(px)


def depth_from_msg(msg: Any, depth_scale: float = 0.001) -> np.ndarray:
    """``sensor_msgs/msg/Image`` depth -> ``(H, W) float32`` metres with NaN where invalid.

    Args:
        depth_scale: metres per unit of a ``16UC1``/``mono16`` image (0.001 = millimetres, the ROS
            convention); ignored for ``32FC1`` which is already in metres.
    """
    enc = str(msg.encoding)
    big = bool(msg.is_bigendian)
    if enc in ("16UC1", "mono16"):
        raw = _rows(msg, 2).copy().view(">u2" if big else "<u2")
        depth = raw.astype(np.float32) * np.float32(depth_scale)
        depth[raw == 0] = np.nan
    elif enc == "32FC1":
        depth = _rows(msg, 4).copy().view(">f4" if big else "<f4").astype(np.float32)
        depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    else:
        raise UserError(f"depth image has encoding {msg.encoding!r}; expected one of {', '.join(DEPTH_ENCODINGS)}")
    return depth.reshape(int(msg.height), int(msg.width))


def labels_from_msg(msg: Any) -> np.ndarray:
    """A ``16UC1``/``mono16`` image (e.g. instance labels) -> ``(H, W) uint16`` unchanged values."""
    if str(msg.encoding) not in ("16UC1", "mono16"):
        raise UserError(f"label image has encoding {msg.encoding!r}; expected 16UC1")
    return _rows(msg, 2).copy().view(">u2" if msg.is_bigendian else "<u2").astype(np.uint16)


def depth_to_msg(store: Any, depth_m: np.ndarray, encoding: str, stamp: int, frame_id: str) -> Any:
    """``(H, W) float32`` metres (NaN = invalid) -> ``16UC1`` (millimetres, 0 = invalid) or ``32FC1``."""
    if encoding == "16UC1":
        mm = np.where(np.isfinite(depth_m), np.round(depth_m * 1000.0), 0).clip(0, 65535).astype(np.uint16)
        return image_to_msg(store, mm, "16UC1", stamp, frame_id)
    if encoding == "32FC1":
        return image_to_msg(store, np.where(np.isfinite(depth_m), depth_m, np.nan).astype(np.float32), "32FC1", stamp, frame_id)
    raise ValueError(f"unsupported depth encoding {encoding!r}")


# ---------------------------------------------------------------- camera info


def camera_info_to_msg(store: Any, k: Intrinsics, stamp: int, frame_id: str) -> Any:
    """Pinhole ``sensor_msgs/msg/CameraInfo`` without distortion (``plumb_bob`` with zero ``d``)."""
    K = np.array([k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0], dtype=np.float64)
    P = np.array([k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=np.float64)
    roi = store.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return store.types[CAMERA_INFO](
        header=header(store, stamp, frame_id),
        height=k.height,
        width=k.width,
        distortion_model="plumb_bob",
        d=np.zeros(5, dtype=np.float64),
        k=K,
        r=np.eye(3, dtype=np.float64).reshape(-1),
        p=P,
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


def intrinsics_from_msg(msg: Any) -> Intrinsics:
    """``sensor_msgs/msg/CameraInfo`` -> :class:`Intrinsics` (from ``k``; distortion is ignored)."""
    K = np.asarray(msg.k, dtype=np.float64).reshape(-1)
    if K.size != 9 or K[0] <= 0 or K[4] <= 0:
        raise UserError("CameraInfo has no valid intrinsic matrix k (fx, fy must be positive)")
    return Intrinsics(fx=float(K[0]), fy=float(K[4]), cx=float(K[2]), cy=float(K[5]),
                      width=int(msg.width), height=int(msg.height))


# ---------------------------------------------------------------- poses and detections


def _pose_msg(store: Any, pose: Pose) -> Any:
    Point = store.types["geometry_msgs/msg/Point"]
    Quaternion = store.types["geometry_msgs/msg/Quaternion"]
    x, y, z = (float(v) for v in pose.position)
    qx, qy, qz, qw = (float(v) for v in pose.quaternion)
    return store.types["geometry_msgs/msg/Pose"](
        position=Point(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw)
    )


def _pose_from_msg(msg: Any) -> Pose:
    p, q = msg.position, msg.orientation
    return Pose(position=np.array([p.x, p.y, p.z]), quaternion=np.array([q.x, q.y, q.z, q.w]))


def pose_array_to_msg(store: Any, poses: list[Pose], stamp: int, frame_id: str) -> Any:
    """A ``geometry_msgs/msg/PoseArray`` of camera-frame poses."""
    return store.types[POSE_ARRAY](header=header(store, stamp, frame_id), poses=[_pose_msg(store, p) for p in poses])


def poses_from_msg(msg: Any) -> list[Pose]:
    """``geometry_msgs/msg/PoseArray`` -> list of :class:`Pose`."""
    return [_pose_from_msg(p) for p in msg.poses]


@dataclass
class DetectionRecord:
    """One identified object as carried by the vision_msgs detections.

    Attributes:
        object_id: instance id within the frame (``Detection2D.id``).
        product_id: best product id (``ObjectHypothesis.class_id``), ``""`` when unidentified.
        score: its cosine similarity.
        bbox: ``(x, y, w, h)`` pixels.
        pose: pose of the object's 3D box in the camera frame (see ``geometry.object_box``), or None.
        size: ``(sx, sy, sz)`` metres of the 3D box (zeros when unknown).
    """

    object_id: str
    product_id: str
    score: float
    bbox: tuple[float, float, float, float]
    pose: Pose | None = None
    size: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _hypothesis(store: Any, rec: DetectionRecord) -> Any:
    pose = rec.pose if rec.pose is not None else Pose(np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]))
    cov = store.types["geometry_msgs/msg/PoseWithCovariance"](pose=_pose_msg(store, pose), covariance=np.zeros(36))
    hyp = store.types["vision_msgs/msg/ObjectHypothesis"](class_id=rec.product_id, score=float(rec.score))
    return store.types["vision_msgs/msg/ObjectHypothesisWithPose"](hypothesis=hyp, pose=cov)


def detections_2d_to_msg(store: Any, records: list[DetectionRecord], stamp: int, frame_id: str) -> Any:
    """``vision_msgs/msg/Detection2DArray``: one Detection2D per record (bbox centre + size)."""
    T = store.types
    dets = []
    for rec in records:
        x, y, w, h = (float(v) for v in rec.bbox)
        center = T["vision_msgs/msg/Pose2D"](position=T["vision_msgs/msg/Point2D"](x=x + w / 2, y=y + h / 2), theta=0.0)
        bbox = T["vision_msgs/msg/BoundingBox2D"](center=center, size_x=w, size_y=h)
        dets.append(T["vision_msgs/msg/Detection2D"](header=header(store, stamp, frame_id),
                                                     results=[_hypothesis(store, rec)], bbox=bbox, id=rec.object_id))
    return T[DETECTION_2D_ARRAY](header=header(store, stamp, frame_id), detections=dets)


def detections_2d_from_msg(msg: Any) -> list[DetectionRecord]:
    """``vision_msgs/msg/Detection2DArray`` -> records (bbox back to ``x, y, w, h``)."""
    out = []
    for det in msg.detections:
        hyp = det.results[0].hypothesis if len(det.results) else None
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        w, h = det.bbox.size_x, det.bbox.size_y
        out.append(DetectionRecord(object_id=det.id, product_id=hyp.class_id if hyp else "",
                                   score=float(hyp.score) if hyp else 0.0, bbox=(cx - w / 2, cy - h / 2, w, h)))
    return out


def detections_3d_to_msg(store: Any, records: list[DetectionRecord], stamp: int, frame_id: str) -> Any:
    """``vision_msgs/msg/Detection3DArray``: records that carry a pose, with their 3D box size."""
    T = store.types
    dets = []
    for rec in records:
        if rec.pose is None:
            continue
        size = T["geometry_msgs/msg/Vector3"](x=float(rec.size[0]), y=float(rec.size[1]), z=float(rec.size[2]))
        bbox = T["vision_msgs/msg/BoundingBox3D"](center=_pose_msg(store, rec.pose), size=size)
        dets.append(T["vision_msgs/msg/Detection3D"](header=header(store, stamp, frame_id),
                                                     results=[_hypothesis(store, rec)], bbox=bbox, id=rec.object_id))
    return T[DETECTION_3D_ARRAY](header=header(store, stamp, frame_id), detections=dets)


def detections_3d_from_msg(msg: Any) -> list[DetectionRecord]:
    """``vision_msgs/msg/Detection3DArray`` -> records with ``pose`` and ``size`` (no 2D bbox)."""
    out = []
    for det in msg.detections:
        hyp = det.results[0].hypothesis if len(det.results) else None
        s = det.bbox.size
        out.append(DetectionRecord(object_id=det.id, product_id=hyp.class_id if hyp else "",
                                   score=float(hyp.score) if hyp else 0.0, bbox=(0.0, 0.0, 0.0, 0.0),
                                   pose=_pose_from_msg(det.bbox.center), size=(s.x, s.y, s.z)))
    return out


def string_msg(store: Any, text: str) -> Any:
    """A ``std_msgs/msg/String``."""
    return store.types[STRING](data=text)
