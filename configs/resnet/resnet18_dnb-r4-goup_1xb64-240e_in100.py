# ResNet-18 + DN-B (4, oup), lr 0.2: paper Table 3 (12.52M, 1731.43M).
_base_ = './resnet18_bn_1xb64-240e_in100.py'

# the paper's layer (Eq. 7) with WeightNet's sigmoid in the SC-Module (README, 'Use it in
# any mmdet / mmpretrain config'). It did not train in the norm study; adding
# bound='tanh' made it train there (README, 'Does DN-B hold up?').
model = dict(backbone=dict(norm_cfg=dict(
    type='DNB', r=4, g='oup', form='paper', act_cfg=dict(type='Sigmoid'))))
