# mmpretrain's standard ResNet-34 (21.34M, 3663.30M Mult-Adds) with BN on ImageNet-100: see
# resnet18-mmpretrain_bn_1xb64-240e_in100.py. The paper's ResNet-34:
# resnet34_bn_1xb64-240e_in100.py.
_base_ = './resnet18-mmpretrain_bn_1xb64-240e_in100.py'

model = dict(backbone=dict(depth=34))
