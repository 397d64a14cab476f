# MobileNetV2 + SE (r=16) in front of every BN: paper Table 2 (3.73M, 300.98M).
_base_ = './mobilenet-v2_bn_1xb64-240e_in100.py'

model = dict(backbone=dict(norm_cfg=dict(type='SEBN', r=16)))
