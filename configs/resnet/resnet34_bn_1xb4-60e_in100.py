# ResNet-34 + BN, batch 4, 60 epochs: paper Table 3.
_base_ = './resnet34_bn_1xb64-240e_in100.py'

train_dataloader = dict(batch_size=4)  # paper, Table 3
train_cfg = dict(max_epochs=60)  # paper, Table 3 footnotes
param_scheduler = dict(T_max=60)
