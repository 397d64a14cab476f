# MobileNetV2 + BN at lr 0.5: paper Table 8.
_base_ = './mobilenet-v2_bn_1xb64-240e_in100.py'

optim_wrapper = dict(optimizer=dict(lr=0.5))  # paper, Table 8
