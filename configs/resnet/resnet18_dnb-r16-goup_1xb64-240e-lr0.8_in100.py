# ResNet-18 + DN-B (16, oup), lr 0.8: paper Table 3 (11.54M, 1730.45M).
_base_ = './resnet18_bn_1xb64-240e_in100.py'

# the paper's layer (Eq. 7) with WeightNet's sigmoid in the SC-Module (README, 'Use it in
# any mmdet / mmpretrain config'). It did not train in the norm study; adding
# bound='tanh' made it train there (README, 'Does DN-B hold up?').
model = dict(backbone=dict(norm_cfg=dict(
    type='DNB', r=16, g='oup', form='paper', act_cfg=dict(type='Sigmoid'))))
optim_wrapper = dict(optimizer=dict(lr=0.8))  # paper, Table 3
