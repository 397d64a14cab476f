# SSDLite + MobileNetV2 with DN-B (r=16, g=oup) on COCO 2017, mmdet's SSDLite
# (6.24M; the paper's Table 5 detector: ssdlite-fna_mobilenetv2-dnb-r16-goup_2xb64-30e_coco.py).
# Everything as the BN config except the backbone's norm, initialised from the DN-B
# ImageNet-100 run (mobilenet-v2_dnb-r16-goup_1xb64-240e_in100.py), exported with
#   python tools/model_converters/export_backbone.py \
#       work_dirs/mobilenet-v2_dnb-r16-goup_1xb64-240e_in100/best_accuracy_top1_epoch_*.pth \
#       checkpoints/mobilenet-v2_dnb-r16-goup_in100_backbone.pth
_base_ = './ssdlite-mmdet_mobilenetv2-bn_2xb64-30e_coco.py'

model = dict(
    backbone=dict(
        # the paper's layer (Eq. 7) with WeightNet's sigmoid in the SC-Module (README, 'Use it in
        # any mmdet / mmpretrain config'). It did not train in the norm study; adding
        # bound='tanh' made it train there (README, 'Does DN-B hold up?').
        norm_cfg=dict(
            type='DNB', r=16, g='oup', form='paper', act_cfg=dict(type='Sigmoid')),
        init_cfg=dict(checkpoint='checkpoints/mobilenet-v2_dnb-r16-goup_in100_backbone.pth')))
