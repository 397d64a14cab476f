# MobileNetV2 + DN-B (r=32, g=1): paper Table 6 (2.69M, 300.00M).
_base_ = './mobilenet-v2_bn_1xb64-240e_in100.py'

# the paper's layer (Eq. 7) with WeightNet's sigmoid in the SC-Module: README 'Forms'
model = dict(backbone=dict(norm_cfg=dict(
    type='DNB', r=32, g=1, form='paper', act_cfg=dict(type='Sigmoid'))))
