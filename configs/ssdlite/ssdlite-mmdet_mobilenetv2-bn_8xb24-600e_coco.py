# SSDLite + MobileNetV2 (BN) with mmdet's model-zoo schedule (8 GPUs x 24 images, 120 epochs
# over RepeatDataset x5 = '600e', cosine lr 0.015): to compare with mmdet's 21.3 mAP (trained
# from scratch) using our ImageNet-100 backbone. Only the backbone differs from mmdet's config.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'

custom_imports = dict(imports=['dn_mm', 'mmpretrain.models'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.MobileNetV2',
        widen_factor=1.0,
        out_indices=(4, 7),
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.1),  # the ImageNet-100 run's (DenseNAS's)
        init_cfg=dict(type='Pretrained', prefix='backbone.', strict=True,
                      checkpoint='checkpoints/mobilenet-v2_bn_in100_backbone.pth')))

custom_hooks = [
    dict(type='NumClassCheckHook'),  # mmdet's
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),  # mmdet's
    # dn_mm: --resume continues bit for bit (RNG states, mid-epoch position, atomic writes)
    dict(type='ExactResumeHook', interval=300),
    dict(type='NonFiniteGuardHook'),  # dn_mm: stop at the first NaN/inf, naming where
]
