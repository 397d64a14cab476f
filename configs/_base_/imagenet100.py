# ImageNet-100 data, schedule, evaluation and runtime shared by the paper's classification
# configs (MobileNetV2, ResNet-18/34). Where a value comes from:
#   paper (Sec. 4, Tables 1-8): batch 64 on one GPU, 240 epochs, lr 0.2, SGD, 224x224,
#       ImageNet-100 = 100 ImageNet classes, 80/20 train/val split, ImageNet val as test.
#   DenseNAS, the paper's code base (JaminFong/DenseNAS configs/imagenet_train_cfg.py,
#       run_apis/retrain.py, tools/lr_scheduler.py), for what the paper leaves out: SGD momentum
#       0.9 without Nesterov, weight decay 4e-5 on every parameter (BN included; one value for
#       MobileNetV2 and ResNet: DenseNAS has no separate ResNet recipe), cosine decay per
#       iteration to min_lr 1e-5, no warm-up, RandomResizedCrop(224, scale 0.08-1) + flip
#       without colour jitter, Resize(256) + CenterCrop(224) for evaluation. Label smoothing
#       0.1 and DenseNAS's initialisation are in the model configs (mobilenet-v2_bn_*,
#       resnet18_bn_*), which own ``model``.
#   mmpretrain's imagenet_bs32_pil_resize.py: preprocessing and augmentation.
#
# Data: an ImageNet-1k tree at data/imagenet and the ImageNet-100 annotation files from
#   python tools/dataset_converters/prepare_imagenet100.py data/imagenet data/imagenet/in100
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['dn_mm'], allow_failed_imports=False)
data_root = 'data/imagenet'
num_classes = 100

data_preprocessor = dict(
    num_classes=num_classes, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]


def _split(ann_file, pipeline, shuffle):
    return dict(
        batch_size=64, num_workers=8, persistent_workers=True,
        sampler=dict(type='DefaultSampler', shuffle=shuffle),
        dataset=dict(type='CustomDataset', data_root=data_root, ann_file=ann_file,
                     with_label=True, pipeline=pipeline))


train_dataloader = _split('in100/meta/train.txt', train_pipeline, True)  # batch 64: paper
val_dataloader = _split('in100/meta/val.txt', test_pipeline, False)
# the paper's test set: the original ImageNet val images of the 100 classes.
# Test batch size is a command-line choice: tools/test.py ... --batch-size 1 (Table 4)
test_dataloader = _split('in100/meta/test.txt', test_pipeline, False)
del _split
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

# lr 0.2: paper; momentum 0.9, weight decay 4e-5 on all parameters: DenseNAS
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=4e-5))
# cosine per iteration down to 1e-5 (DenseNAS optim.min_lr), 240 epochs (paper)
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, T_max=240, eta_min=1e-5,
                       convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=240, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64, enable=False)

# The paper reports the val accuracy of the best epoch and the test accuracy of that
# checkpoint: keep the best checkpoint by val top-1; dn_mm's TestBestCheckpointHook tests it
# after training (tools/train.py, upstream train.py or mim train) and prints train (last
# epoch) / val (best) / test accuracy together (<work_dir>/paper_report.json).
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1,
                    save_best='accuracy/top1', rule='greater'))
custom_hooks = [
    dict(type='EpochMetricsHook'),  # dn_mm: per-epoch train/val metrics as JSON
    dict(type='TestBestCheckpointHook'),  # dn_mm: the paper's test of the best checkpoint
    # dn_mm: --resume continues bit for bit (RNG states, mid-epoch position, atomic writes);
    # a checkpoint every 500 iterations too (an ImageNet-100 epoch at batch 64 has ~1,600)
    dict(type='ExactResumeHook', interval=500),
    dict(type='NonFiniteGuardHook'),  # dn_mm: stop at the first NaN/inf, naming where
]
