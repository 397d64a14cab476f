# MobileNetV2 + DN-B (r=16, g=oup) on ImageNet-100: paper Tables 1, 2, 7 (4.36M, 301.66M),
# Figures 1 and 5.
_base_ = './mobilenet-v2_bn_1xb64-240e_in100.py'

# the paper's layer (Eq. 7) with WeightNet's sigmoid in the SC-Module (README, 'Use it in
# any mmdet / mmpretrain config'). It did not train in the norm study; adding
# bound='tanh' made it train there (README, 'Does DN-B hold up?').
model = dict(backbone=dict(norm_cfg=dict(
    type='DNB', r=16, g='oup', form='paper', act_cfg=dict(type='Sigmoid'))))
