# FNA's SSDLite + MobileNetV2 (BN) on COCO 2017: the paper's Table 5 baseline (15.3 mAP; 4.32M,
# 0.81G Mult-Adds at 320x320). The paper: "our code is based on MMDetection and FNA".
# Where a value comes from:
#   paper (Sec. 4.3): backbone = the MobileNetV2 trained on ImageNet-100 with the same norm,
#       plain BN (no SyncBN), 30 epochs, lr 0.05 decayed at 18, 25, 28, 64 images x 2 GPUs:
#       the recipe of the parent config (mmdet's SSDLite with these values).
#   FNA (JaminFong/FNA, fna_det/configs/fna_ssdlite_retrain.py, models/derived_ssdlite_backbone.py,
#       ssdlite_head.py, operations.py): the taps (576-channel expansion of the first 160-channel
#       block, stride 16; 1280-channel conv, stride 32), the extra layers (1x1 -> dw 3x3 s2 -> 1x1,
#       BN eps 1e-3, ReLU6), the head (dw 3x3-BN-ReLU6, 1x1-BN per level), anchors (SSD300
#       sizing, basesize_ratio_range (0.2, 0.95), ratios [2],[2,3],[2,3],[2,3],[2],[2]), test
#       settings (NMS IoU 0.6, score 0.02, 200 boxes), warm-up (500 iterations from lr/3), conv
#       init normal(std 0.03), augmentation order.
#   kept from the parent (mmdet): SGD momentum 0.9, weight decay 4e-5 (= FNA's), the
#       ImageNet-100 backbone's input normalisation (FNA: std 1, for its own backbone).
# Backbone weights: the ImageNet-100 run's best checkpoint exported with
#   python tools/model_converters/export_backbone.py \
#       work_dirs/mobilenet-v2_bn_1xb64-240e_in100/best_accuracy_top1_epoch_*.pth \
#       checkpoints/mobilenet-v2_bn_in100_backbone.pth
# loaded strictly (FNAMobileNetV2 keeps mmpretrain's MobileNetV2 module names).
_base_ = './ssdlite-mmdet_mobilenetv2-bn_2xb64-30e_coco.py'

fna_bn = dict(type='BN', eps=0.001)  # FNA operations.py conv_dw / conv_dw_head (momentum 0.1)
fna_init = dict(type='Normal', layer='Conv2d', std=0.03)  # FNA init_weights: normal_init std 0.03
model = dict(
    backbone=dict(type='FNAMobileNetV2', expansion_out_indices=(5, ), out_indices=(7, )),
    neck=dict(
        in_channels=(576, 1280),
        out_channels=(576, 1280, 512, 256, 256, 128),
        norm_cfg=fna_bn,
        init_cfg=fna_init),
    bbox_head=dict(
        type='FNASSDLiteHead',
        in_channels=(576, 1280, 512, 256, 256, 128),
        norm_cfg=fna_bn,
        init_cfg=fna_init,
        anchor_generator=dict(
            _delete_=True,
            type='SSDAnchorGenerator',
            scale_major=False,
            input_size=300,  # FNA: anchors sized for 300 on 320x320 images
            basesize_ratio_range=(0.2, 0.95),
            strides=[16, 32, 64, 107, 160, 320],
            ratios=([2], [2, 3], [2, 3], [2, 3], [2], [2]))),
    test_cfg=dict(nms_pre=-1, nms=dict(type='nms', iou_threshold=0.6), score_thr=0.02,
                  max_per_img=200))

# FNA's augmentation order (photometric distortion, expand, min-IoU crop, resize, flip)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='Expand', mean={{_base_.data_preprocessor.mean}}, to_rgb=True, ratio_range=(1, 4)),
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
    dict(type='Resize', scale=(320, 320), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),  # FNA warm-up
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=30, milestones=[18, 25, 28], gamma=0.1),
]
