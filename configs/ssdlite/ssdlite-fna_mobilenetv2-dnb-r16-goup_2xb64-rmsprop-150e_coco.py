# FNA's SSDLite + MobileNetV2 with DN-B (16, oup), FNA's schedule (INFERRED FROM FNA, see the BN
# twin ssdlite-fna_mobilenetv2-bn_2xb64-rmsprop-150e_coco.py); backbone as in
# ssdlite-fna_mobilenetv2-dnb-r16-goup_2xb64-30e_coco.py.
_base_ = './ssdlite-fna_mobilenetv2-bn_2xb64-rmsprop-150e_coco.py'

model = dict(
    backbone=dict(
        # the paper's layer (Eq. 7) with WeightNet's sigmoid in the SC-Module (README, 'Use it in
        # any mmdet / mmpretrain config'). It did not train in the norm study; adding
        # bound='tanh' made it train there (README, 'Does DN-B hold up?').
        norm_cfg=dict(
            type='DNB', r=16, g='oup', form='paper', act_cfg=dict(type='Sigmoid')),
        init_cfg=dict(checkpoint='checkpoints/mobilenet-v2_dnb-r16-goup_in100_backbone.pth')))
