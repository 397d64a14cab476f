# Demo: the DN-B (r=16, g=oup) twin of ssdlite_mobilenetv2-bn_1xb8-36e_deepforest.py, backbone
# from the DN-B classification demo. Everything else is the same (paper Table 5's comparison).
_base_ = './ssdlite_mobilenetv2-bn_1xb8-36e_deepforest.py'

model = dict(
    backbone=dict(
        norm_cfg=dict(type='DNB', r=16, g='oup'),
        init_cfg=dict(checkpoint='work_dirs/demo/cls_dnb/backbone.pth')))
# The SC-Modules at a tenth of the lr: their gradients grow with the square of their input
# (the pooled features), and at the full lr of this short, high-lr schedule the DN-B
# detector's gradient norm exploded (1e6, clipped) in our runs while BN's stayed below 10.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.sc.': dict(lr_mult=0.1)}))
