# mmdet's SSDLite + MobileNetV2 (BN) on COCO 2017 with the paper's Table 5 recipe. The paper's
# own detector is FNA's SSDLite (ssdlite-fna_mobilenetv2-bn_2xb64-30e_coco.py, 4.32M, 0.81G);
# mmdet's taps the 96-channel block output instead of the 576-channel expansion (4.23M, 0.75G)
# and is kept here because it is the SSDLite mmdet users know.
# Where a value comes from:
#   paper (Sec. 4.3): backbone = the MobileNetV2 trained on ImageNet-100 with the same norm,
#       plain BN (no SyncBN), 30 epochs, SGD lr 0.05 decayed at epochs 18, 25, 28,
#       64 images per GPU on 2 GPUs.
#   mmdet's ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py: neck, head, anchors, augmentation,
#       input 320x320, momentum 0.9, weight decay 4e-5, 500-iter linear warmup.
# The backbone is mmpretrain's MobileNetV2 (the ImageNet-100 model), not mmdet's (other key
# names). Its weights: the ImageNet-100 run's best checkpoint, exported with
#   python tools/model_converters/export_backbone.py \
#       work_dirs/mobilenet-v2_bn_1xb64-240e_in100/best_accuracy_top1_epoch_*.pth \
#       checkpoints/mobilenet-v2_bn_in100_backbone.pth
# or any path: --cfg-options model.backbone.init_cfg.checkpoint=PATH.
# strict=True (dn_mm): missing/unexpected backbone keys are logged and fail the run.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'

custom_imports = dict(imports=['dn_mm', 'mmpretrain.models'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.MobileNetV2',
        widen_factor=1.0,
        out_indices=(4, 7),  # layer5 (96 ch, stride 16) and conv2 (1280 ch, stride 32)
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.1),  # the ImageNet-100 run's (DenseNAS's)
        init_cfg=dict(type='Pretrained', prefix='backbone.', strict=True,
                      checkpoint='checkpoints/mobilenet-v2_bn_in100_backbone.pth')))

# 30 plain epochs over COCO train2017 (mmdet's RepeatDataset x5 removed), 64 images per GPU
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    dataset=dict(_delete_=True, type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
                 ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img='train2017/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=32),
                 pipeline={{_base_.train_pipeline}}))

max_epochs = 30
train_cfg = dict(max_epochs=max_epochs, val_interval=1)  # mAP every epoch (paper Figure 3)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[18, 25, 28],
         gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=0.05))  # for 2 GPUs x 64 images
auto_scale_lr = dict(base_batch_size=128)  # other GPU counts: --auto-scale-lr

custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='EpochMetricsHook'),  # dn_mm: per-epoch train loss / val mAP as JSON
    # dn_mm: --resume continues bit for bit (RNG states, mid-epoch position, atomic writes);
    # a checkpoint every 300 iterations too (a COCO epoch at 2 x 64 images has ~920)
    dict(type='ExactResumeHook', interval=300),
    dict(type='NonFiniteGuardHook'),  # dn_mm: stop at the first NaN/inf, naming where
]
