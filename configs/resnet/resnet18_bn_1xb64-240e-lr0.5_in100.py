# ResNet-18 + BN, lr 0.5: paper Table 3.
_base_ = './resnet18_bn_1xb64-240e_in100.py'

optim_wrapper = dict(optimizer=dict(lr=0.5))  # paper, Table 3
