# mmpretrain's standard ResNet-18 (7x7 stem + max-pool; 11.23M, 1813.61M Mult-Adds) with BN on
# ImageNet-100 and the paper's recipe, for comparison with the paper's DenseNAS ResNet-18
# (resnet18_bn_1xb64-240e_in100.py). mmpretrain's init (zero-init of each block's last BN).
# Other norms: --cfg-options model.backbone.norm_cfg.type=DNB.
_base_ = [
    'mmpretrain::_base_/models/resnet18.py',
    '../_base_/imagenet100.py',
]

model = dict(
    backbone=dict(norm_cfg=dict(type='BN')),
    head=dict(num_classes=100, cal_acc=True, topk=(1, 5),
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')))
