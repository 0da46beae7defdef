"""keras.applications: pretrained ImageNet models with Keras's architectures, layer names,
weight files (from Keras's cache `~/.keras/models`, downloaded when missing) and
preprocessing."""

from tensorflux.keras.applications import (
    densenet,
    efficientnet,
    imagenet_utils,
    inception_v3,
    mobilenet_v2,
    resnet,
    resnet50,
    vgg16,
    vgg19,
)
from tensorflux.keras.applications.densenet import DenseNet121
from tensorflux.keras.applications.efficientnet import EfficientNetB0
from tensorflux.keras.applications.inception_v3 import InceptionV3
from tensorflux.keras.applications.mobilenet_v2 import MobileNetV2
from tensorflux.keras.applications.resnet import ResNet50, ResNet101, ResNet152
from tensorflux.keras.applications.vgg16 import VGG16
from tensorflux.keras.applications.vgg19 import VGG19

__all__ = ["DenseNet121", "EfficientNetB0", "InceptionV3", "MobileNetV2", "ResNet50",
           "ResNet101", "ResNet152", "VGG16", "VGG19", "densenet", "efficientnet",
           "imagenet_utils", "inception_v3", "mobilenet_v2", "resnet", "resnet50", "vgg16",
           "vgg19"]
