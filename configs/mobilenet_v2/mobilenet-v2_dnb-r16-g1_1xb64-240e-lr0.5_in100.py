# MobileNetV2 + DN-B (16, 1) at lr 0.5: paper Table 8.
_base_ = './mobilenet-v2_bn_1xb64-240e_in100.py'

# the paper's layer (Eq. 7) with WeightNet's sigmoid in the SC-Module: README 'Forms'
model = dict(backbone=dict(norm_cfg=dict(
    type='DNB', r=16, g=1, form='paper', act_cfg=dict(type='Sigmoid'))))
optim_wrapper = dict(optimizer=dict(lr=0.5))  # paper, Table 8
