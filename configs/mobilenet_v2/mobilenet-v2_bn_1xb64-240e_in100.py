# MobileNetV2 + BN on ImageNet-100: the paper's baseline (Table 1, row BN: 2.35M, 299.62M).
# Every other ImageNet-100 MobileNetV2 config inherits this one and changes the norm
# layer, lr or batch size. Data and schedule: ../_base_/imagenet100.py.
# From DenseNAS (models/model_derived.py MBV2_Net, the paper's code base):
#   BN eps 1e-3, momentum 0.1 (set_bn_param(0.1, 0.001)); the DN layers' BN takes them too;
#   conv init 'he_fout' N(0, 2 / (k*k*out/groups)) (dn_mm's 'HeFout'), BN weight 1, bias 0;
#   label smoothing 0.1 (DenseNAS optim.label_smooth, ProxylessNAS's 'original' form).
_base_ = [
    'mmpretrain::_base_/models/mobilenet_v2_1x.py',
    '../_base_/imagenet100.py',
]

model = dict(
    backbone=dict(
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.1),
        init_cfg=[dict(type='HeFout', layer='Conv2d'),
                  dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]),
    # cal_acc: log the training accuracy, reported for the last epoch (the paper's 'Train')
    head=dict(num_classes=100, cal_acc=True, topk=(1, 5),
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
              init_cfg=None))  # DenseNAS: nn.Linear's own init
