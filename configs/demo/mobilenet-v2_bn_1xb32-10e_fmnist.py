# Demo (make demo): MobileNetV2 + BN trained on the Fashion-MNIST demo data (10 classes, 800
# train / 200 val / 300 test images, ImageNet-style tree made by tools/prepare_demo_data.py)
# on the CPU in about a minute. Same model, data path and evaluation as the ImageNet-100
# configs; only the data size, input size (64x64) and schedule are small.
_base_ = '../mobilenet_v2/mobilenet-v2_bn_1xb64-240e_in100.py'

data_root = 'data/fashion_mnist_imagenet'
num_classes = 10
input_size = 64
epochs = 10

model = dict(head=dict(num_classes=num_classes, topk=(1, 5)))
data_preprocessor = dict(num_classes=num_classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=input_size, crop_ratio_range=(0.5, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), backend='pillow'),
    dict(type='PackInputs'),
]
_loader = dict(batch_size=32, num_workers=0, persistent_workers=False)
train_dataloader = dict(**_loader, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(**_loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(**_loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
del _loader

# No gradient clipping: the default DN-B trains without it (README, 'Does DN-B hold up?').
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = dict(T_max=epochs)
train_cfg = dict(max_epochs=epochs)
default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0)
