# Demo (make demo): SSDLite + MobileNetV2 (BN) on the NEON tree-crown demo data (COCO format,
# 320x320 tiles made by tools/prepare_demo_data.py from the deepforest wheel), backbone from
# the BN classification demo (configs/demo/mobilenet-v2_bn_1xb32-10e_fmnist.py), on the CPU.
# Same detector, pretrained-backbone loading and COCO evaluation as the paper's configs; the
# data, anchors (tree crowns are 10-70 px, mmdet's SSDLite anchors start at 48 px) and the
# schedule are the demo's.
_base_ = '../ssdlite/ssdlite-mmdet_mobilenetv2-bn_2xb64-30e_coco.py'

data_root = 'data/deepforest_coco'
metainfo = dict(classes=('Tree', ), palette=[(0, 200, 0)])
epochs = 36
input_size = 320

model = dict(
    backbone=dict(init_cfg=dict(checkpoint='work_dirs/demo/cls_bn/backbone.pth')),
    bbox_head=dict(
        num_classes=1,
        anchor_generator=dict(
            strides=[16, 32, 64, 107, 160, 320],
            min_sizes=[16, 40, 80, 150, 220, 290],
            max_sizes=[40, 80, 150, 220, 290, 320])),
    test_cfg=dict(score_thr=0.05, max_per_img=300))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=4), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + '/annotations/instances_val.json')
test_evaluator = val_evaluator

# COCO mAP after epoch 1, then every 5 epochs and after the last (mmengine: from epoch 4 on,
# interval 5); epoch_metrics.json keeps them for the demo table and plot_curves.py
train_cfg = dict(max_epochs=epochs, val_interval=1, dynamic_intervals=[(4, 5)])
# 62 tiles, 8 per batch: 288 iterations, hence an lr near the paper's 0.05 (which is for
# batch 128).
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=40),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=epochs, milestones=[28, 33], gamma=0.1),
]
# no gradient clipping, as in the classification demo
optim_wrapper = dict(optimizer=dict(lr=0.04))
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=epochs))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
