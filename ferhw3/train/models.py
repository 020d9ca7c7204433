"""Model builders: the CNNs and the parameter-matched dense baseline.

Every model takes raw grey values (0-255, float) of shape (H, W, 1) and normalises them
itself, so `predict.py`, `visualize.py` and training all feed the same uint8 faces.
"""

from __future__ import annotations

import keras
from keras import layers, regularizers

from ..data.read import IMG_SIZE, NUM_CLASSES

# FER2013 pixel statistics of the training split (mean, std of 0-255 values); baked into
# the model as a fixed Normalization layer so the saved .h5 is self-contained.
PIXEL_MEAN = 129.4
PIXEL_STD = 65.0


def _normalise(x):
    return layers.Normalization(mean=PIXEL_MEAN, variance=PIXEL_STD**2, name="normalise")(x)


def vgg_report(input_size: int = IMG_SIZE, dropout: float = 0.25, l2: float = 0.01) -> keras.Model:
    """The seed report's VGG (7.3M parameters): 64-64 / 128-128 / 256-256 / 512-512-512
    3x3 convolutions, 2x2 max-pooling and dropout after each stage, Dense 64-64-7 with L2."""
    inputs = keras.Input((input_size, input_size, 1), name="face")
    x = _normalise(inputs)
    for stage, (width, n) in enumerate([(64, 2), (128, 2), (256, 2), (512, 3)], start=1):
        for i in range(n):
            x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{stage}_{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
        x = layers.Dropout(dropout, name=f"drop{stage}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = layers.Dense(64, activation="relu", kernel_regularizer=regularizers.l2(l2), name=f"fc{i}")(x)
        x = layers.Dropout(0.5, name=f"fc{i}_drop")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", kernel_regularizer=regularizers.l2(l2),
                           name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg_report")


def vgg_bn(widths=(32, 64, 128, 256), convs=(1, 2, 2, 2), dropout=(0.1, 0.2, 0.3, 0.4),
           head_dropout: float = 0.4, weight_decay: float = 2.5e-4, normalise: bool = True) -> keras.Model:
    """A compact VGG with batch normalisation and global average pooling.

    Fully convolutional, so it trains on random crops smaller than 48x48 (cheaper steps)
    and predicts on the whole 48x48 face. The first stage has a single convolution: at
    full resolution a second one costs as much as a whole deeper stage.
    """
    reg = regularizers.l2(weight_decay) if weight_decay else None
    inputs = keras.Input((None, None, 1), name="face")
    x = _normalise(inputs) if normalise else inputs
    for stage, (width, n, p) in enumerate(zip(widths, convs, dropout), start=1):
        for i in range(n):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_regularizer=reg,
                              name=f"conv{stage}_{i + 1}")(x)
            x = layers.BatchNormalization(name=f"bn{stage}_{i + 1}")(x)
            x = layers.ReLU(name=f"relu{stage}_{i + 1}")(x)
        if stage < len(widths):
            x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
        x = layers.Dropout(p, name=f"drop{stage}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(head_dropout, name="head_drop")(x)
    # float32 even under mixed_bfloat16: a softmax in bf16 loses the small probabilities
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", kernel_regularizer=reg, dtype="float32",
                           name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg_bn")


def _vgg_bn_scaled(scale: float = 1.0, **kw) -> keras.Model:
    """vgg_bn with its dropout rates (0.1/0.2/0.3/0.4 after the stages, 0.4 before the
    classifier) multiplied by `scale`."""
    return vgg_bn(dropout=tuple(min(r * scale, 0.9) for r in (0.1, 0.2, 0.3, 0.4)),
                  head_dropout=min(0.4 * scale, 0.9), **kw)


def _preact_block(x, width: int, stride: int, reg, name: str):
    """A pre-activation residual block (He et al. 2016): BN-ReLU-conv twice, the shortcut
    a strided 1x1 convolution of the activated input when the shape changes."""
    a = layers.ReLU(name=f"{name}_relu1")(layers.BatchNormalization(name=f"{name}_bn1")(x))
    if stride != 1 or x.shape[-1] != width:
        shortcut = layers.Conv2D(width, 1, strides=stride, use_bias=False, kernel_regularizer=reg,
                                 name=f"{name}_proj")(a)
    else:
        shortcut = x
    y = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False, kernel_regularizer=reg,
                      name=f"{name}_conv1")(a)
    y = layers.ReLU(name=f"{name}_relu2")(layers.BatchNormalization(name=f"{name}_bn2")(y))
    y = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_regularizer=reg, name=f"{name}_conv2")(y)
    return layers.Add(name=f"{name}_add")([shortcut, y])


def resnet_preact(stem: int = 32, widths=(64, 128, 256), blocks=(1, 2, 2), head_dropout: float = 0.3,
                  weight_decay: float = 2.5e-4) -> keras.Model:
    """A pre-activation ResNet for 40x40 crops: a 3x3 stem at full resolution, then stages of
    residual blocks that each halve the side (40 -> 20 -> 10 -> 5), global average pooling.
    Another family beside the VGGs for the ensemble, at about vgg-bn-deep-wide's
    arithmetic a face (0.12 GFLOP at 40x40). Fully convolutional like vgg_bn."""
    reg = regularizers.l2(weight_decay) if weight_decay else None
    inputs = keras.Input((None, None, 1), name="face")
    x = layers.Conv2D(stem, 3, padding="same", use_bias=False, kernel_regularizer=reg,
                      name="stem")(_normalise(inputs))
    for stage, (width, n) in enumerate(zip(widths, blocks), start=1):
        for i in range(n):
            x = _preact_block(x, width, 2 if i == 0 else 1, reg, f"res{stage}_{i + 1}")
    x = layers.ReLU(name="final_relu")(layers.BatchNormalization(name="final_bn")(x))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(head_dropout, name="head_drop")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", kernel_regularizer=reg, dtype="float32",
                           name="predictions")(x)
    return keras.Model(inputs, outputs, name="resnet_preact")


# Each builder takes a multiplier of its dropout rates (1: as designed). Dropout has no
# weights, so a model saved with one scale loads into a builder with another (--init).
ARCHITECTURES = {
    "vgg-report": lambda scale=1.0: vgg_report(dropout=min(0.25 * scale, 0.9)),
    "vgg-bn": _vgg_bn_scaled,
    "vgg-bn-wide": lambda scale=1.0: _vgg_bn_scaled(scale, widths=(48, 96, 192, 384)),
    # depth where it is cheap: a third convolution at 10x10 and at 5x5 (x1.2 the step time)
    "vgg-bn-deep": lambda scale=1.0: _vgg_bn_scaled(scale, convs=(1, 2, 3, 3)),
    "vgg-bn-deep-wide": lambda scale=1.0: _vgg_bn_scaled(scale, widths=(32, 64, 160, 320), convs=(1, 2, 3, 3)),
    # deep-wide at 1.2-1.5x the width (4.3M parameters, 1.5x the step): capacity for 300-epoch members
    "vgg-bn-xl": lambda scale=1.0: _vgg_bn_scaled(scale, widths=(48, 96, 192, 384), convs=(1, 2, 3, 3)),
    # for the normalisation ablation: raw 0-255 input (batch norm still follows each conv)
    "vgg-bn-raw": lambda scale=1.0: _vgg_bn_scaled(scale, normalise=False),
    "resnet-preact": lambda scale=1.0: resnet_preact(head_dropout=min(0.3 * scale, 0.9)),
}


def build_cnn(arch: str, dropout_scale: float = 1.0) -> keras.Model:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    if dropout_scale < 0:
        raise ValueError(f"dropout scale must be >= 0, got {dropout_scale}")
    return ARCHITECTURES[arch](dropout_scale)


def dnn_params(hidden: int, depth: int, n_in: int = IMG_SIZE * IMG_SIZE) -> int:
    """Trainable parameters of `dnn(hidden, depth)` (Dense + BatchNorm scale/offset)."""
    total = n_in * hidden + hidden + 2 * hidden
    total += (depth - 1) * (hidden * hidden + hidden + 2 * hidden)
    return total + hidden * NUM_CLASSES + NUM_CLASSES


def dnn_width_for(target_params: int, depth: int = 3) -> int:
    """The hidden width whose `dnn` has the parameter count closest to target_params."""
    lo, hi = 1, 1 << 16
    while lo < hi:  # dnn_params is increasing in width: binary search for the crossing
        mid = (lo + hi) // 2
        if dnn_params(mid, depth) < target_params:
            lo = mid + 1
        else:
            hi = mid
    return min((lo - 1, lo), key=lambda w: abs(dnn_params(max(w, 1), depth) - target_params))


def dnn(hidden: int, depth: int = 3, dropout: float = 0.4) -> keras.Model:
    """A plain multilayer perceptron on the flattened face: the no-convolution baseline."""
    inputs = keras.Input((IMG_SIZE, IMG_SIZE, 1), name="face")
    x = layers.Flatten(name="flatten")(_normalise(inputs))
    for i in range(depth):
        x = layers.Dense(hidden, name=f"dense{i + 1}")(x)
        x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
        x = layers.Dropout(dropout, name=f"drop{i + 1}")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="dnn")


def trainable_params(model: keras.Model) -> int:
    return int(sum(int(w.numpy().size) for w in model.trainable_weights))


def matched_dnn(arch: str = "vgg-bn", depth: int = 3, dropout_scale: float = 1.0):
    """(builder, its parameters, the CNN's parameters, width): the dense baseline whose
    width makes its parameter count closest to CNN `arch`'s."""
    cnn_params = trainable_params(build_cnn(arch))
    width = dnn_width_for(cnn_params, depth)
    return (lambda: dnn(width, depth, dropout=min(0.4 * dropout_scale, 0.9))), dnn_params(width, depth), cnn_params, width


def fuse_batch_norm(model: keras.Model) -> keras.Model:
    """Run the training pass of `model`'s batch norms on 4-D inputs in TensorFlow's fused
    kernel (one op in place of Keras's moments, casts and arithmetic; the gain on the one-hour
    recipe: studies/results_fused_bn.md). Inference, the weights and the
    saved file are unchanged: the layers stay BatchNormalization, only this instance's
    `call` is replaced. TensorFlow backend only."""
    import types

    import tensorflow as tf

    def fused_call(self, inputs, training=None, mask=None):
        usual = (not training or not self.trainable or mask is not None or len(inputs.shape) != 4
                 or self.axis not in (-1, 3) or self.renorm or not (self.center and self.scale))
        if usual:
            return type(self).call(self, inputs, training=training, mask=mask)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32), epsilon=self.epsilon,
            is_training=True)
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moving.assign(moving * self.momentum + tf.cast(batch, moving.dtype) * (1.0 - self.momentum))
        return tf.cast(y, self.compute_dtype)

    for layer in model._flatten_layers(include_self=False):
        if type(layer) is layers.BatchNormalization:
            layer.call = types.MethodType(fused_call, layer)
    return model
