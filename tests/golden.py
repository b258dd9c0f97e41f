"""Published parameter and multiply-add counts, ImageNet shape (3 x R x R, 1000 classes).

Sources: EfficientNet (Tan & Le 2019) and the common reference implementations, as
gathered in the project's reference.md; ResNet-18 (He et al. 2016) and MobileNetV1
(Howard et al. 2017: "569 million mult-adds, 4.2 million parameters") at their exact
reference-implementation counts.
"""

# name: (depth, width, resolution, params, multiply-adds)
GOLDEN = {
    "efficientnet-b0": (1.0, 1.0, 224, 5_288_548, 385_814_752),
    "efficientnet-b7": (3.1, 2.0, 600, 66_347_960, 37_745_884_192),
    "resnet50": (1.0, 1.0, 224, 25_557_032, 4_089_184_256),
    "mobilenetv2": (1.0, 1.0, 224, 3_504_872, 300_774_272),
    "resnet18": (1.0, 1.0, 224, 11_689_512, 1_814_073_344),
    "mobilenetv1": (1.0, 1.0, 224, 4_231_976, 568_740_352),
}
