# MobileNetV2 + BN on ImageNet-100: the paper's baseline (Table 1, row BN: 2.35M, 299.62M).
# Every other ImageNet-100 MobileNetV2 config inherits this one and changes the norm
# layer, lr or batch size. Data and schedule: ../_base_/imagenet100.py.
_base_ = [
    'mmpretrain::_base_/models/mobilenet_v2_1x.py',
    '../_base_/imagenet100.py',
]

model = dict(
    backbone=dict(norm_cfg=dict(type='BN')),
    # cal_acc: log the training accuracy, reported for the last epoch (the paper's 'Train')
    head=dict(num_classes=100, cal_acc=True, topk=(1, 5)))
optim_wrapper = dict(optimizer=dict(weight_decay=4e-5))  # DenseNAS MobileNetV2 recipe
