"""ONNX export of a trained model, and the inference-only rewrites before it: same function,
faster graph.

On 64x64 tiles resnet18's last stage runs 3x3 convolutions on 2x2 maps. Every output there
sees the whole input map, so the convolution is one dense matrix product per image; ONNX
Runtime's convolution kernels spend most of their time on the zero padding of such tiny maps
(those three took 26 of resnet18's 68 ms at batch 64 on 2 cores), while a matrix product does
only the useful work.
"""

from __future__ import annotations

import logging

import onnx
import torch
from torch import nn
from torch.fx.experimental.optimization import fuse
from torch.fx.passes.shape_prop import ShapeProp

from eurosat_kedro.preprocessing import IMAGE_SIZE
from eurosat_kedro.serving.model_card import ModelCard

from .factory import TrainedModel, load_trained_model

logger = logging.getLogger(__name__)

# the largest matrix a convolution may become (float32 entries: 16M = 64 MiB)
MAX_MATRIX_ENTRIES = 16 * 2**20


class FullMapConv(nn.Module):
    """A convolution whose every output sees its whole input map, as one matrix product."""

    def __init__(self, conv: nn.Conv2d, in_shape: tuple[int, int, int]):
        super().__init__()
        channels, height, width = in_shape
        basis = torch.eye(channels * height * width).reshape(-1, channels, height, width)
        with torch.no_grad():
            # each row is the convolution of one input unit: exactly the kernel's weights
            columns = nn.functional.conv2d(
                basis, conv.weight, None, conv.stride, conv.padding, conv.dilation, conv.groups
            )
        self.out_shape = tuple(columns.shape[1:])
        self.register_buffer("matrix", columns.flatten(1))
        bias = torch.zeros(self.out_shape[0]) if conv.bias is None else conv.bias.detach()
        self.register_buffer("bias", bias[:, None, None].expand(self.out_shape).flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.flatten(1), self.matrix).reshape(-1, *self.out_shape)


def sees_whole_map(conv: nn.Conv2d, in_shape: tuple[int, int, int]) -> bool:
    """True when every output of ``conv`` depends on every input position (and channel)."""
    if conv.groups != 1 or conv.dilation != (1, 1) or not isinstance(conv.padding, tuple):
        return False
    for size, kernel, stride, pad in zip(
        in_shape[1:], conv.kernel_size, conv.stride, conv.padding, strict=True
    ):
        outputs = (size + 2 * pad - kernel) // stride + 1
        first_start, last_start = -pad, (outputs - 1) * stride - pad
        if last_start > 0 or first_start + kernel - 1 < size - 1:
            return False
    return True


def prepare_for_export(
    model: nn.Module, image_size: int = 64, full_map_convs_as_matmul: bool = True
) -> tuple[nn.Module, int]:
    """The model to export (in eval mode), and the number of convolutions rewritten.

    On a copy, batch norms are folded into their convolutions, then every convolution that sees
    its whole input map becomes a :class:`FullMapConv`. With the switch off, or for a model
    torch.fx cannot trace (with a warning), ``model`` itself is returned: the export still
    works, only without the rewrite.
    """
    if not full_map_convs_as_matmul:
        return model.eval(), 0
    try:
        graph_module = fuse(model.eval())
        ShapeProp(graph_module).propagate(torch.zeros(1, 3, image_size, image_size))
    except Exception as error:  # noqa: BLE001 - any tracing failure means "export as is"
        logger.warning(
            "Exporting %s without the full-map rewrite: torch.fx cannot trace it (%s)",
            type(model).__name__,
            error,
        )
        return model.eval(), 0
    rewritten = 0
    for node in graph_module.graph.nodes:
        if node.op != "call_module":
            continue
        conv = graph_module.get_submodule(node.target)
        if not isinstance(conv, nn.Conv2d):
            continue
        in_shape = tuple(node.args[0].meta["tensor_meta"].shape[1:])
        out_shape = tuple(node.meta["tensor_meta"].shape[1:])
        entries = torch.Size(in_shape).numel() * torch.Size(out_shape).numel()
        if sees_whole_map(conv, in_shape) and entries <= MAX_MATRIX_ENTRIES:
            # the graph is unchanged: its call_module node now reaches the new module
            graph_module.set_submodule(node.target, FullMapConv(conv, in_shape))
            rewritten += 1
    logger.info(
        "Export: %d convolution(s) that see their whole input map run as matrix products", rewritten
    )
    return graph_module.eval(), rewritten


def export_onnx(
    trained: TrainedModel,
    opset: int,
    tta: bool = False,
    full_map_convs_as_matmul: bool = True,
    temperature: float = 1.0,
    unknown_threshold: float = 0.0,
) -> onnx.ModelProto:
    """``trained`` as a checked ONNX model: input ``image`` (N, 3, 64, 64) float32
    normalised, output ``logits``; a dynamic batch axis; the 8-view averaging inside the
    graph when ``tta``; the logits divided by ``temperature`` (calibrated); its
    ``ModelCard`` (classes, architecture, opset, versions, temperature, the "unknown"
    threshold) in the metadata."""
    model, rewritten = prepare_for_export(
        load_trained_model(trained, tta, temperature), IMAGE_SIZE, full_map_convs_as_matmul
    )
    example = torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    program = torch.onnx.export(
        model,
        (example,),
        input_names=["image"],
        output_names=["logits"],
        opset_version=opset,
        dynamo=True,
        external_data=False,
        dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=4096)}},
    )
    proto = program.model_proto
    ModelCard(
        classes=tuple(trained.classes),
        model_name=trained.spec.name,
        opset=opset,
        torch=str(torch.__version__),
        tta=tta,
        full_map_convs_as_matmul=rewritten,
        temperature=temperature,
        unknown_threshold=unknown_threshold,
    ).write_to(proto)
    onnx.checker.check_model(proto)
    logger.info("Exported %s to ONNX (opset %d)", trained.spec.name, opset)
    return proto
