# Demo: the DN-B (r=16, g=oup) twin of ssdlite_mobilenetv2-bn_1xb8-36e_deepforest.py, backbone
# from the DN-B classification demo. Everything else is the same (paper Table 5's comparison).
_base_ = './ssdlite_mobilenetv2-bn_1xb8-36e_deepforest.py'

model = dict(
    backbone=dict(
        norm_cfg=dict(type='DNB', r=16, g='oup'),
        init_cfg=dict(checkpoint='work_dirs/demo/cls_dnb/backbone.pth')))
