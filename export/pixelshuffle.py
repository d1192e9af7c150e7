"""PixelShuffle in the DepthToSpace order NNAPI accepts (DCR), by permuting channels before it.

PyTorch's ``nn.PixelShuffle(b)`` exports as ONNX ``DepthToSpace(mode="CRD")``::

    CRD: out[n, c, h*b + i, w*b + j] = in[n, c*b*b + i*b + j, h, w]
    DCR: out[n, c, h*b + i, w*b + j] = in[n, (i*b + j)*C + c, h, w]

Android NNAPI's ``DEPTH_TO_SPACE`` (and many NPU delegates built on it) implements only DCR, so a CRD node
falls back to the CPU. The two orders differ only by a fixed channel permutation ``perm`` of the input
(``perm[(i*b + j)*C + c] = c*b*b + i*b + j``), so ``DCR(in[:, perm]) == CRD(in)`` exactly. We insert
that permutation as a ``Gather`` on the channel axis and push it upstream: through element-wise ops
(Add/Sub/Mul/Div with per-channel or scalar partners, Relu-like activations) and into the output channels
of the producing ``Conv`` (its weight and bias rows are reordered), where it costs nothing. Only branches
that are not a Conv (ESPCN's nearest-neighbour residual, for instance) keep an explicit channel
``Gather``, which every NPU delegate supports.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx

# PRelu is binary here: its per-channel slope must be permuted along with its input.
_ELEMENTWISE_BINARY = {"Add", "Sub", "Mul", "Div", "PRelu"}
_ELEMENTWISE_UNARY = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "Identity"}


def dcr_permutation(channels: int, block: int) -> np.ndarray:
    """Channel permutation ``perm`` (int64, length ``channels``) with ``DCR(x[:, perm]) == CRD(x)``.

    ``channels`` is the DepthToSpace input channel count ``C * block**2``.
    """
    if channels % (block * block):
        raise ValueError(f"{channels} channels are not divisible by block^2 = {block * block}")
    c_out = channels // (block * block)
    k, c = np.meshgrid(np.arange(block * block), np.arange(c_out), indexing="ij")  # new index = k*C + c
    return (c * block * block + k).reshape(-1).astype(np.int64)


def depth_to_space(x: np.ndarray, block: int, mode: str) -> np.ndarray:
    """Reference ONNX DepthToSpace on (N, C*b*b, H, W) numpy arrays, ``mode`` ``"DCR"`` or ``"CRD"``."""
    n, ch, h, w = x.shape
    c = ch // (block * block)
    if mode == "DCR":
        y = x.reshape(n, block, block, c, h, w).transpose(0, 3, 4, 1, 5, 2)
    elif mode == "CRD":
        y = x.reshape(n, c, block, block, h, w).transpose(0, 1, 4, 2, 5, 3)
    else:
        raise ValueError(f"mode must be DCR or CRD, got {mode!r}")
    return y.reshape(n, c, h * block, w * block)


class _Graph:
    """Producer/consumer/initializer indexes over an ONNX graph, kept in sync while rewriting."""

    def __init__(self, model: onnx.ModelProto) -> None:
        import onnx

        self.model = model
        self.graph = model.graph
        inferred = onnx.shape_inference.infer_shapes(model)
        self.shapes: dict[str, list[int]] = {}
        for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
            dims = v.type.tensor_type.shape.dim
            self.shapes[v.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
        self.inits = {i.name: i for i in self.graph.initializer}
        for i in self.graph.initializer:
            self.shapes.setdefault(i.name, list(i.dims))
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = defaultdict(list)
        for node in self.graph.node:
            for out in node.output:
                self.producer[out] = node
            for inp in node.input:
                self.consumers[inp].append(node)
        self.graph_outputs = {o.name for o in self.graph.output}
        self.new_nodes: list[tuple[Any, Any]] = []  # (node to insert, node it must precede)
        self.stats = {"depth_to_space_converted": 0, "folded_into_conv": 0, "gather_inserted": 0}

    def constant_array(self, name: str) -> np.ndarray | None:
        from onnx import numpy_helper

        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
        return None

    def single_use(self, name: str) -> bool:
        return len(self.consumers[name]) == 1 and name not in self.graph_outputs

    def set_initializer(self, name: str, array: np.ndarray) -> None:
        from onnx import numpy_helper

        self.inits[name].CopyFrom(numpy_helper.from_array(array, name))

    def add_initializer(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        unique, i = name, 0
        while unique in self.inits or unique in self.producer:
            i += 1
            unique = f"{name}_{i}"
        tensor = numpy_helper.from_array(array, unique)
        self.graph.initializer.append(tensor)
        self.inits[unique] = self.graph.initializer[-1]
        return unique

    def permuted(self, name: str, perm: np.ndarray, consumer: Any) -> str:
        """Name of a tensor equal to ``name[:, perm]``, pushing the permutation upstream where free."""
        import onnx

        const = self.constant_array(name)
        shape = self.shapes.get(name, [])
        if const is not None:
            if const.ndim < 3 or const.shape[-3] == 1:  # broadcast over channels: order does not matter
                return name
            if const.shape[-3] == len(perm):
                return self.add_initializer(name + "_dcr", np.ascontiguousarray(np.take(const, perm, axis=-3)))
        if len(shape) == 4 and shape[1] == 1:
            return name
        node = self.producer.get(name)
        if node is not None and self.single_use(name) and len(shape) == 4:
            if node.op_type == "Conv" and self._fold_into_conv(node, perm):
                return name
            if node.op_type in _ELEMENTWISE_UNARY and self.shapes.get(node.input[0]) == shape:
                node.input[0] = self.permuted(node.input[0], perm, node)
                return name
            if node.op_type in _ELEMENTWISE_BINARY and all(
                self.constant_array(i) is not None
                or (len(self.shapes.get(i, [])) == 4 and self.shapes[i][1] in (1, len(perm)))
                for i in node.input
            ):
                for idx, inp in enumerate(list(node.input)):
                    node.input[idx] = self.permuted(inp, perm, node)
                return name
        index = self.add_initializer(name + "_dcr_perm", perm.astype(np.int64))
        out = f"{name}_dcr"
        gather = onnx.helper.make_node("Gather", [name, index], [out], axis=1, name=f"{name}_dcr_gather")
        self.new_nodes.append((gather, consumer))
        self.shapes[out] = list(shape)
        self.stats["gather_inserted"] += 1
        return out

    def _fold_into_conv(self, node: Any, perm: np.ndarray) -> bool:
        weight_name = node.input[1]
        if weight_name not in self.inits or len(self.consumers[weight_name]) != 1:
            return False
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        if group != 1:
            return False
        weight = self.constant_array(weight_name)
        assert weight is not None
        self.set_initializer(weight_name, np.ascontiguousarray(weight[perm]))
        if len(node.input) > 2 and node.input[2]:
            bias_name = node.input[2]
            if bias_name not in self.inits or len(self.consumers[bias_name]) != 1:
                self.set_initializer(weight_name, weight)  # undo: bias cannot be permuted safely
                return False
            bias = self.constant_array(bias_name)
            assert bias is not None
            self.set_initializer(bias_name, np.ascontiguousarray(bias[perm]))
        self.stats["folded_into_conv"] += 1
        return True

    def commit(self) -> None:
        """Insert the new Gather nodes right before the nodes that consume them (keeps topological order)."""
        before: dict[int, list[Any]] = defaultdict(list)
        for new, consumer in self.new_nodes:
            before[id(consumer)].append(new)
        nodes = list(self.graph.node)
        del self.graph.node[:]
        for node in nodes:
            self.graph.node.extend(before.get(id(node), []))
            self.graph.node.append(node)


def convert_depth_to_space_dcr(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, int]]:
    """Rewrite every ``DepthToSpace(mode=CRD)`` of ``model`` to DCR with identical outputs.

    Needs static channel counts (shape inference must know the DepthToSpace input's channels).

    Returns:
        (a rewritten copy of the model, stats ``{"depth_to_space_converted", "folded_into_conv",
        "gather_inserted"}``).
    """
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = _Graph(out)
    for node in list(out.graph.node):
        if node.op_type != "DepthToSpace":
            continue
        mode_attr = next((a for a in node.attribute if a.name == "mode"), None)
        if mode_attr is None or mode_attr.s.decode() != "CRD":
            continue  # ONNX's default mode is DCR already
        block = next(a.i for a in node.attribute if a.name == "blocksize")
        shape = graph.shapes.get(node.input[0], [])
        if len(shape) != 4 or shape[1] <= 0:
            raise ValueError(f"DepthToSpace input {node.input[0]!r} has no static channel count")
        perm = dcr_permutation(shape[1], block)
        node.input[0] = graph.permuted(node.input[0], perm, node)
        mode_attr.s = b"DCR"
        graph.stats["depth_to_space_converted"] += 1
    graph.commit()
    return out, dict(graph.stats)


def depth_to_space_modes(model: onnx.ModelProto) -> list[str]:
    """The mode of every DepthToSpace node (``"DCR"`` when the attribute is absent, ONNX's default)."""
    modes = []
    for node in model.graph.node:
        if node.op_type == "DepthToSpace":
            attr = next((a for a in node.attribute if a.name == "mode"), None)
            modes.append("DCR" if attr is None else attr.s.decode())
    return modes
