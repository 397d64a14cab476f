# MobileNetV2 + DN-B (16, 1), training batch 8 for 120 epochs: paper Table 4 (DN-8).
_base_ = './mobilenet-v2_bn_1xb64-240e_in100.py'

# the paper's layer (Eq. 7) with WeightNet's sigmoid in the SC-Module (README, 'Use it in
# any mmdet / mmpretrain config'). It did not train in the norm study; adding
# bound='tanh' made it train there (README, 'Does DN-B hold up?').
model = dict(backbone=dict(norm_cfg=dict(
    type='DNB', r=16, g=1, form='paper', act_cfg=dict(type='Sigmoid'))))
train_dataloader = dict(batch_size=8)  # paper, Table 4
train_cfg = dict(max_epochs=120)  # paper, Table 4 footnote 1 (lr stays 0.2)
param_scheduler = dict(T_max=120)
