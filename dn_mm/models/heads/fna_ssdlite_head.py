"""FNA's SSDLite head ("SSDLightHead") on mmdet 3's ``SSDHead``.

FNA (JaminFong/FNA, ``fna_det/models/ssdlite_head.py`` and ``conv_dw_head`` in
``operations.py``) predicts every level with a depthwise 3x3 conv + BN +
ReLU6 followed by a bias-free 1x1 conv + BN (no activation); mmdet's SSDLite
head ends in a 1x1 conv with a bias instead of the BN. Everything else
(anchors, losses, assignment, decoding) is mmdet's ``SSDHead``; FNA's anchor
ratios ``([2], [2, 3], [2, 3], [2, 3], [2], [2])`` come from the config.
"""
from mmcv.cnn import ConvModule
from mmdet.models.dense_heads import SSDHead
from mmengine.registry import MODELS
from torch import nn


def _dw_pointwise_bn(channels: int, out_channels: int, norm_cfg: dict, act_cfg: dict,
                     out_norm_cfg: dict) -> nn.Sequential:
    return nn.Sequential(
        ConvModule(channels, channels, 3, padding=1, groups=channels, norm_cfg=norm_cfg,
                   act_cfg=act_cfg),
        ConvModule(channels, out_channels, 1, norm_cfg=out_norm_cfg, act_cfg=None))


@MODELS.register_module()
class FNASSDLiteHead(SSDHead):
    """mmdet's ``SSDHead`` with FNA's per-level predictors (dw 3x3-BN-ReLU6, 1x1-BN).

    Args:
        out_norm_cfg: the norm after each predicting 1x1 conv (FNA: BN with
            eps 1e-3); ``None`` takes ``norm_cfg``.
        **kwargs: ``SSDHead`` arguments; ``norm_cfg`` and ``act_cfg`` are
            required (FNA: BN eps 1e-3, ReLU6). ``stacked_convs`` must stay 0
            and ``use_depthwise`` True (FNA's head has neither tower nor plain convs).
    """

    def __init__(self, out_norm_cfg: dict = None, **kwargs) -> None:
        if kwargs.get('stacked_convs', 0) != 0 or not kwargs.get('use_depthwise', True):
            raise ValueError('FNASSDLiteHead: stacked_convs must be 0 and use_depthwise True '
                             '(FNA predicts each level with one depthwise-separable conv)')
        if kwargs.get('norm_cfg') is None or kwargs.get('act_cfg') is None:
            raise ValueError('FNASSDLiteHead: norm_cfg and act_cfg are required, '
                             "e.g. norm_cfg=dict(type='BN', eps=0.001), act_cfg=dict(type='ReLU6')")
        self.out_norm_cfg = out_norm_cfg
        kwargs['use_depthwise'] = True
        super().__init__(**kwargs)

    def _init_layers(self) -> None:
        out_norm_cfg = self.out_norm_cfg or self.norm_cfg
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for channels, priors in zip(self.in_channels, self.num_base_priors):
            self.cls_convs.append(_dw_pointwise_bn(channels, priors * self.cls_out_channels,
                                                   self.norm_cfg, self.act_cfg, out_norm_cfg))
            self.reg_convs.append(_dw_pointwise_bn(channels, priors * 4, self.norm_cfg,
                                                   self.act_cfg, out_norm_cfg))
