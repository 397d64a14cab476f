# SSDLite + MobileNetV2 with DN-B (16, oup), mmdet's model-zoo schedule (see the BN twin).
_base_ = './ssdlite-mmdet_mobilenetv2-bn_8xb24-600e_coco.py'

model = dict(
    backbone=dict(
        norm_cfg=dict(type='DNB', r=16, g='oup'),
        init_cfg=dict(checkpoint='checkpoints/mobilenet-v2_dnb-r16-goup_in100_backbone.pth')))
