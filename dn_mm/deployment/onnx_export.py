"""Export the inference form of a classifier or detector to ONNX, and check it in ONNX Runtime.

What is exported is the network only, from the preprocessed image tensor to
its raw outputs, as mmdeploy does for SSD:

* an mmpretrain classifier: the class scores (logits, before softmax);
* an mmdet single-stage detector (SSDLite): per level, the class scores and
  the box deltas of its head; anchor decoding and NMS stay outside the graph.

The model is folded first (:func:`~dn_mm.deployment.fuse.fuse_for_inference`),
so the graph holds standard ONNX operators only. The exporter is torch's
TorchScript-based one (``dynamo=False``): it needs no package beyond ``onnx``,
and it takes a dynamic batch axis through ``dynamic_axes``.
"""
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from ..utils import atomic_write
from .fuse import fuse_for_inference

#: Operator domains of the standard ONNX operator set ('' is ai.onnx's usual spelling).
STANDARD_DOMAINS = ('', 'ai.onnx')
DEFAULT_OPSET = 17
INPUT_NAME = 'input'


class ClassifierScores(nn.Module):
    """An mmpretrain classifier from the image tensor to its class scores."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x, mode='tensor')


class DetectorHeadOutputs(nn.Module):
    """An mmdet single-stage detector to its head's raw outputs, flattened:
    class scores of every level, then box deltas of every level."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        cls_scores, bbox_preds = self.model.bbox_head(self.model.extract_feat(x))[:2]
        return tuple(cls_scores) + tuple(bbox_preds)


def graph_module(model: nn.Module) -> Tuple[nn.Module, List[str]]:
    """The module to export for ``model`` and its output names.

    An mmdet single-stage detector (it has ``bbox_head``) and an mmpretrain
    classifier (``head``) are wrapped; any other module is exported as it is
    with one output named ``output``.
    """
    if hasattr(model, 'bbox_head') and hasattr(model, 'extract_feat'):
        levels = len(model.bbox_head.cls_convs) if hasattr(model.bbox_head, 'cls_convs') else None
        if levels is None:
            raise ValueError(f'{type(model.bbox_head).__name__}: only heads with per-level '
                             '`cls_convs` (SSD / SSDLite) are exported')
        names = ([f'cls_score_{i}' for i in range(levels)]
                 + [f'bbox_pred_{i}' for i in range(levels)])
        return DetectorHeadOutputs(model), names
    if hasattr(model, 'head') and hasattr(model, 'extract_feat'):
        return ClassifierScores(model), ['cls_score']
    return model, ['output']


def export_onnx(model: nn.Module, path: str, shape: Sequence[int] = (224, 224),
                dynamic_batch: bool = True, opset: int = DEFAULT_OPSET, fuse: bool = True,
                batch: int = 1) -> List[str]:
    """Write the ONNX graph of ``model`` (folded first unless ``fuse=False``) to ``path``.

    ``shape``: input (H, W); the input is (N, 3, H, W) named ``input``, with a
    dynamic batch axis N when ``dynamic_batch``. Returns the output names.
    The file is written atomically.
    """
    if len(shape) != 2 or any(int(s) <= 0 for s in shape):
        raise ValueError(f'shape must be (H, W) with positive sizes, got {tuple(shape)}')
    if not isinstance(opset, int) or not 11 <= opset <= 20:
        raise ValueError(f'opset must be an int in 11..20 (the TorchScript exporter), '
                         f'got {opset!r}')
    if fuse:
        model = fuse_for_inference(model)
    module, names = graph_module(model.eval())
    x = torch.randn(batch, 3, int(shape[0]), int(shape[1]))
    axes = {n: {0: 'batch'} for n in [INPUT_NAME] + names} if dynamic_batch else None
    with warnings.catch_warnings():
        # the TorchScript exporter is deprecated in favour of the dynamo one (which needs
        # onnxscript); tracer warnings about python ints in shapes concern H, W only
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        with torch.no_grad(), atomic_write(path, 'wb') as f:
            torch.onnx.export(module, (x,), f, dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=names,
                              dynamic_axes=axes, do_constant_folding=True)
    return names


def graph_summary(path: str) -> Dict[str, object]:
    """Operator types and domains, opset and input shape of an ONNX file (checked by onnx)."""
    import onnx
    model = onnx.load(path)
    onnx.checker.check_model(model)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return dict(
        op_types=sorted({n.op_type for n in model.graph.node}),
        domains=sorted({n.domain for n in model.graph.node}),
        custom=[f'{n.domain}::{n.op_type}' for n in model.graph.node
                if n.domain not in STANDARD_DOMAINS],
        opset={o.domain or 'ai.onnx': o.version for o in model.opset_import},
        input_shape=[d.dim_param if d.dim_param else d.dim_value for d in dims],
        outputs=[o.name for o in model.graph.output])


def ort_session(path: str, threads: Optional[int] = None):
    """An ONNX Runtime CPU session (all graph optimisations) for ``path``."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def ort_run(session, x: Tensor) -> List[np.ndarray]:
    return session.run(None, {INPUT_NAME: x.detach().cpu().numpy().astype(np.float32)})


@torch.no_grad()
def torch_outputs(model: nn.Module, x: Tensor) -> List[np.ndarray]:
    """``model``'s outputs (eval mode) as graph_module would export them, as numpy arrays."""
    module, _ = graph_module(model.eval())
    out = module(x)
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else (out,))]


def max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    if len(a) != len(b):
        raise ValueError(f'{len(a)} outputs against {len(b)}')
    for x, y in zip(a, b):
        if x.shape != y.shape:
            raise ValueError(f'output shapes differ: {x.shape} vs {y.shape}')
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def check_onnx(path: str, model: nn.Module, shape: Sequence[int], batches=(1, 4),
               seed: int = 0) -> Dict[str, float]:
    """Max abs differences of the ONNX Runtime outputs from ``model``'s eval outputs.

    Keys: ``batch N`` for each batch size, and ``sample vs alone`` (the first
    sample of the largest batch against the same image run alone, in ONNX Runtime).
    """
    session = ort_session(path)
    gen = torch.Generator().manual_seed(seed)
    result = {}
    for n in sorted(batches):  # the largest last: its first sample is checked alone
        x = torch.randn(n, 3, int(shape[0]), int(shape[1]), generator=gen)
        got = ort_run(session, x)
        result[f'batch {n}'] = max_abs_diff(got, torch_outputs(model, x))
    alone = ort_run(session, x[:1])
    result['sample vs alone'] = max_abs_diff([o[:1] for o in got], alone)
    return result
