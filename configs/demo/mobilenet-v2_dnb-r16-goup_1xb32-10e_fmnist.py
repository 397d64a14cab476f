# Demo: the DN-B (r=16, g=oup) twin of mobilenet-v2_bn_1xb32-10e_fmnist.py (the norm of the
# paper's detection backbone, Table 5). Everything else is the same.
_base_ = './mobilenet-v2_bn_1xb32-10e_fmnist.py'

model = dict(backbone=dict(norm_cfg=dict(type='DNB', r=16, g='oup')))
