# SSDLite + MobileNetV2 with DN-B (r=16, g=1) on COCO 2017 (not in the paper's Table 5: the
# cheaper DN-B of Tables 1, 6, 7). Backbone from mobilenet-v2_dnb-r16-g1_1xb64-240e_in100.py.
_base_ = './ssdlite-mmdet_mobilenetv2-bn_2xb64-30e_coco.py'

model = dict(
    backbone=dict(
        # the paper's layer (Eq. 7) with WeightNet's sigmoid in the SC-Module (README, 'Use it in
        # any mmdet / mmpretrain config'). It did not train in the norm study; adding
        # bound='tanh' made it train there (README, 'Does DN-B hold up?').
        norm_cfg=dict(
            type='DNB', r=16, g=1, form='paper', act_cfg=dict(type='Sigmoid')),
        init_cfg=dict(checkpoint='checkpoints/mobilenet-v2_dnb-r16-g1_in100_backbone.pth')))
