# MobileNetV2 + DN-C1 (r=16, E/Std branches summed after FC1), lr 0.1: paper Table 1
# (3.03M; trains to NaN in the paper).
_base_ = './mobilenet-v2_bn_1xb64-240e_in100.py'

# the paper's layer (Eq. 7) with WeightNet's sigmoid in the SC-Module (README, 'Use it in
# any mmdet / mmpretrain config'). The paper reports that DN-C does not train (NaN); the
# norm study measured DN-B's options, not DN-C's (README, 'Does DN-B hold up?').
model = dict(backbone=dict(norm_cfg=dict(
    type='DNC', r=16, g=1, fuse='fc1', form='paper', act_cfg=dict(type='Sigmoid'))))
optim_wrapper = dict(optimizer=dict(lr=0.1))  # paper, Table 1 footnote 1
