# ResNet-18 + BN on ImageNet-100, lr 0.2: paper Table 3 (11.22M, 1730.12M).
# The network is DenseNAS's ResNet-18 (the paper's code base, models/model_derived.py RES_Net):
# 3x3 stride-2 stem, no max-pool, stride-2 first stage with a 1x1 projection (dn_mm's
# DenseNASResNet); init as DenseNAS: kaiming_normal(fan_out, relu) convs, BN weight 1 and
# bias 0, no zero-init of the last BN of a block, nn.Linear's own init for the classifier;
# BN eps 1e-5, momentum 0.1 (torch's, DenseNAS sets none for ResNet); label smoothing 0.1.
# Data and schedule (weight decay 4e-5 as MobileNetV2): ../_base_/imagenet100.py.
# mmpretrain's standard ResNet-18: resnet18-mmpretrain_bn_1xb64-240e_in100.py.
_base_ = '../_base_/imagenet100.py'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='DenseNASResNet',
        depth=18,
        out_indices=(3, ),
        norm_cfg=dict(type='BN'),
        init_cfg=[dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
                  dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]),
    neck=dict(type='GlobalAveragePooling'),
    # cal_acc: log the training accuracy, reported for the last epoch (the paper's 'Train')
    head=dict(type='LinearClsHead', num_classes=100, in_channels=512, cal_acc=True, topk=(1, 5),
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
              init_cfg=None))
