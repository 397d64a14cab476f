# MobileNetV2 + DN-B (r=16, g=4): paper Table 7 (3.14M, 300.44M).
_base_ = './mobilenet-v2_bn_1xb64-240e_in100.py'

model = dict(backbone=dict(norm_cfg=dict(type='DNB', r=16, g=4, form='paper')))
