# ResNet-34 + BN on ImageNet-100, batch 64, 240 epochs: paper Table 3 (21.33M, 3579.81M).
# DenseNAS's ResNet-34 (see resnet18_bn_1xb64-240e_in100.py).
_base_ = './resnet18_bn_1xb64-240e_in100.py'

model = dict(backbone=dict(depth=34))
