# ResNet-18 + BN on ImageNet-100, lr 0.2: paper Table 3 (11.22M, 1730.12M).
# Data and schedule: ../_base_/imagenet100.py.
_base_ = [
    'mmpretrain::_base_/models/resnet18.py',
    '../_base_/imagenet100.py',
]

model = dict(
    backbone=dict(norm_cfg=dict(type='BN')),
    head=dict(num_classes=100, cal_acc=True, topk=(1, 5)))
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))  # standard ResNet ImageNet recipe
