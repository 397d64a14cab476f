# Deprecated alias (dn_mm 0.1 name), kept so existing commands keep working: the same
# config as ssdlite-mmdet_mobilenetv2-dnb-r16-goup_2xb64-30e_coco.py (mmdet's SSDLite; the
# paper's detector is configs/ssdlite/ssdlite-fna_*).
_base_ = './ssdlite-mmdet_mobilenetv2-dnb-r16-goup_2xb64-30e_coco.py'
