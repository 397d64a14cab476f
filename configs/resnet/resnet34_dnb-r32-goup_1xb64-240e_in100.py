# ResNet-34 + DN-B (32, oup), batch 64, 240 epochs: paper Table 3 (21.58M, 3580.08M).
_base_ = './resnet34_bn_1xb64-240e_in100.py'

# the paper's layer (Eq. 7) with WeightNet's sigmoid in the SC-Module (README, 'Use it in
# any mmdet / mmpretrain config'). It did not train in the norm study; adding
# bound='tanh' made it train there (README, 'Does DN-B hold up?').
model = dict(backbone=dict(norm_cfg=dict(
    type='DNB', r=32, g='oup', form='paper', act_cfg=dict(type='Sigmoid'))))
