# ResNet-34 + DN-B (16, oup), batch 8, 120 epochs: paper Table 3.
_base_ = './resnet34_dnb-r16-goup_1xb64-240e_in100.py'

train_dataloader = dict(batch_size=8)  # paper, Table 3
train_cfg = dict(max_epochs=120)  # paper, Table 3 footnotes
param_scheduler = dict(T_max=120)
