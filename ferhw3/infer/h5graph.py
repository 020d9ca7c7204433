"""An OpenVINO model built straight from a Keras `.h5` file: no TensorFlow, no Keras.

The file's `model_config` (JSON) gives the layers and how they connect, its `model_weights`
group the arrays (read with h5py); each layer becomes the OpenVINO operations that compute
what Keras computes at inference. So a base install (numpy, h5py, OpenVINO) predicts with
the shipped models, and the `.h5` stays the one source of each model.

The layers the project's architectures use, and the common ones of a small user model, are
built: InputLayer, Normalization, Rescaling, Conv2D, Dense, BatchNormalization, ReLU,
LeakyReLU, Activation, MaxPooling2D, AveragePooling2D, GlobalAverage/MaxPooling2D, Flatten,
Add, and the layers that do nothing at inference (Dropout and the like, the Random*
augmentation layers). Any other layer raises `Unsupported`, naming it; the caller then
converts the model through Keras where it is installed.

Inside the graph 4-D tensors are NCHW (OpenVINO's convolution layout): the NHWC input is
transposed once, and Flatten transposes back so its order is Keras's.
"""

from __future__ import annotations

import json

import numpy as np

# Layers that are the identity at inference.
PASS_THROUGH = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
                "AlphaDropout", "ActivityRegularization", "RandomFlip", "RandomRotation", "RandomZoom",
                "RandomTranslation", "RandomContrast", "RandomBrightness", "RandomCrop", "RandomErasing",
                "RandomWindow", "RandomAffine"}


class Unsupported(ValueError):
    """The file holds a model this builder cannot build (a layer or option it does not know)."""


def read_h5(path: str) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """(the model's config, {layer name: {weight name: array}}) of a Keras .h5 file."""
    import h5py

    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            raise Unsupported("the file holds weights only, no model (saved with save_weights?)")
        raw = f.attrs["model_config"]
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        group = f["model_weights"] if "model_weights" in f else f
        weights = {}
        for name in group.keys():
            arrays = {}

            def visit(key, obj, arrays=arrays):
                if hasattr(obj, "shape"):  # a dataset: its last path part is the weight's name
                    arrays[key.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(obj[()])

            group[name].visititems(visit)
            weights[name] = arrays
    return config, weights


def _layers(config: dict) -> tuple[list[dict], list, list]:
    """(layer configs, input names, output names) of a Functional or Sequential config."""
    kind, body = config.get("class_name"), config.get("config", {})
    if kind == "Sequential":
        layers = list(body.get("layers", []))
        previous = None
        chained = []
        for layer in layers:  # a Sequential's layers each take the one before
            layer = {**layer, "name": layer.get("name") or layer["config"]["name"]}
            layer["inputs"] = [] if previous is None else [previous]
            chained.append(layer)
            previous = layer["name"]
        if not chained or chained[0]["class_name"] != "InputLayer":
            shape = body.get("build_input_shape")
            if not shape:
                raise Unsupported("a Sequential model without an input shape")
            chained.insert(0, {"class_name": "InputLayer", "name": "_input", "inputs": [],
                               "config": {"batch_shape": shape}})
            if len(chained) > 1:
                chained[1]["inputs"] = ["_input"]
        return chained, [chained[0]["name"]], [chained[-1]["name"]]
    if kind not in ("Functional", "Model"):
        raise Unsupported(f"a model of class {kind}")
    layers = []
    for layer in body["layers"]:
        layers.append({**layer, "name": layer.get("name") or layer["config"]["name"],
                       "inputs": _inbound(layer.get("inbound_nodes", []))})
    return layers, _names(body["input_layers"]), _names(body["output_layers"])


def _inbound(nodes) -> list[str]:
    """The names of the layers feeding a layer (Keras 3's and Keras 2's config formats)."""
    if len(nodes) > 1:
        raise Unsupported("a layer called more than once (shared layers)")
    found = []

    def walk(v):
        if isinstance(v, dict):
            history = v.get("config", {}).get("keras_history") if v.get("class_name") == "__keras_tensor__" else None
            if history:
                found.append(history[0])
            else:
                for x in v.values():
                    walk(x)
        elif isinstance(v, list):
            if len(v) >= 3 and isinstance(v[0], str) and isinstance(v[1], int):  # Keras 2: [name, node, tensor, {}]
                found.append(v[0])
            else:
                for x in v:
                    walk(x)

    walk(nodes)
    return found


def _names(spec) -> list[str]:
    if spec and isinstance(spec[0], str):  # one tensor: [name, node, tensor]
        return [spec[0]]
    return [s[0] for s in spec]


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, np.float64).astype(np.float32))


def _activation(ops, x, name: str, rank: int, what: str):
    if name in ("linear", None):
        return x
    if name == "relu":
        return ops.relu(x)
    if name == "softmax":
        return ops.softmax(x, 1)  # the classes: the last axis in Keras, 1 here (2-D, or NCHW)
    if name == "sigmoid":
        return ops.sigmoid(x)
    if name == "tanh":
        return ops.tanh(x)
    if name == "relu6":
        return ops.clamp(x, 0.0, 6.0)
    if name == "elu":
        return ops.elu(x, 1.0)
    if name in ("swish", "silu"):
        return ops.swish(x)
    raise Unsupported(f"{what}: activation {name!r}")


def _channel_shape(rank: int, n: int) -> list[int]:
    return [1, n, 1, 1] if rank == 4 else [1, n]


def _pool_attrs(cfg: dict, what: str):
    size = cfg.get("pool_size", (2, 2))
    size = list(size) if isinstance(size, (list, tuple)) else [size, size]
    strides = cfg.get("strides") or size
    strides = list(strides) if isinstance(strides, (list, tuple)) else [strides, strides]
    padding = cfg.get("padding", "valid")
    if padding not in ("valid", "same"):
        raise Unsupported(f"{what}: padding {padding!r}")
    return size, strides, "same_upper" if padding == "same" else "valid"


def build(path: str):
    """(an openvino.Model of the .h5 at `path`, its input side or None, its config). The
    model takes float32 NHWC faces (N, H, W, 1) of raw 0-255 values and gives the
    probabilities the Keras model gives."""
    from . import openvino

    ov = openvino()
    import openvino.opset15 as ops

    config, weights = read_h5(path)
    layers, inputs, outputs = _layers(config)
    if len(inputs) != 1 or len(outputs) != 1:
        raise Unsupported(f"{len(inputs)} inputs and {len(outputs)} outputs (one of each is read)")
    tensors: dict[str, tuple] = {}  # layer name -> (node, rank)
    side = None
    param = None
    for layer in layers:
        kind, cfg, name = layer["class_name"], layer.get("config", {}), layer["name"]
        what = f"layer {name!r} ({kind})"
        w = weights.get(name, {})
        if kind == "InputLayer":
            shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
            if not shape or len(shape) != 4:
                raise Unsupported(f"{what}: input shape {shape} (images (N, H, W, C) are read)")
            side = shape[1]
            param = ops.parameter([-1, -1, -1, shape[3] or -1], np.float32, name="face")
            if shape[3] == 1:  # one channel: NHWC and NCHW hold the same values in the same order
                nchw = ops.unsqueeze(ops.squeeze(param, np.array([3], np.int64)), np.array([1], np.int64))
            else:
                nchw = ops.transpose(param, np.array([0, 3, 1, 2], np.int64))
            tensors[name] = (nchw, 4)
            continue
        if len(layer["inputs"]) < 1:
            raise Unsupported(f"{what}: no input")
        ins = [tensors[i] for i in layer["inputs"]]
        x, rank = ins[0]
        if kind == "Add":
            y = x
            for other, r in ins[1:]:
                if r != rank:
                    raise Unsupported(f"{what}: adds tensors of different ranks")
                y = ops.add(y, other)
            tensors[name] = (y, rank)
            continue
        if len(ins) != 1:
            raise Unsupported(f"{what}: {len(ins)} inputs")
        if kind in PASS_THROUGH:
            y = x
        elif kind == "Normalization":
            mean, var = cfg.get("mean"), cfg.get("variance")
            if mean is None:
                mean, var = w.get("mean"), w.get("variance")
            if mean is None or cfg.get("invert"):
                raise Unsupported(f"{what}: without a fixed mean and variance, or inverted")
            mean, var = np.asarray(mean, np.float64), np.asarray(var, np.float64)
            std = np.maximum(np.sqrt(var), 1e-7)
            c = mean.size
            y = ops.divide(ops.subtract(x, _f32(mean).reshape(_channel_shape(rank, c) if c > 1 else [1])),
                           _f32(std).reshape(_channel_shape(rank, c) if c > 1 else [1]))
        elif kind == "Rescaling":
            y = ops.add(ops.multiply(x, np.float32(cfg["scale"])), np.float32(cfg.get("offset", 0.0)))
        elif kind == "Conv2D":
            if rank != 4 or cfg.get("groups", 1) != 1 or cfg.get("data_format", "channels_last") != "channels_last":
                raise Unsupported(f"{what}: grouped, channels-first or not on an image")
            padding = cfg.get("padding", "valid")
            if padding not in ("valid", "same"):
                raise Unsupported(f"{what}: padding {padding!r}")
            kernel = _f32(np.transpose(w["kernel"], (3, 2, 0, 1)))
            y = ops.convolution(x, ops.constant(kernel), list(cfg.get("strides", (1, 1))), [0, 0], [0, 0],
                                list(cfg.get("dilation_rate", (1, 1))),
                                "same_upper" if padding == "same" else "valid")
            if cfg.get("use_bias", True):
                y = ops.add(y, _f32(w["bias"]).reshape(_channel_shape(4, kernel.shape[0])))
            y = _activation(ops, y, cfg.get("activation"), 4, what)
        elif kind == "Dense":
            if rank != 2:
                raise Unsupported(f"{what}: on a {rank}-D tensor (flatten or pool it first)")
            y = ops.matmul(x, ops.constant(_f32(w["kernel"])), False, False)
            if cfg.get("use_bias", True):
                y = ops.add(y, _f32(w["bias"]).reshape(1, -1))
            y = _activation(ops, y, cfg.get("activation"), 2, what)
        elif kind == "BatchNormalization":
            axis = cfg.get("axis", -1)
            axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
            if axis not in (-1, 3 if rank == 4 else 1):
                raise Unsupported(f"{what}: over axis {axis}")
            mean, var = np.asarray(w["moving_mean"], np.float64), np.asarray(w["moving_variance"], np.float64)
            gamma = np.asarray(w["gamma"], np.float64) if cfg.get("scale", True) else np.ones_like(mean)
            beta = np.asarray(w["beta"], np.float64) if cfg.get("center", True) else np.zeros_like(mean)
            scale = gamma / np.sqrt(var + cfg.get("epsilon", 1e-3))
            shape = _channel_shape(rank, mean.size)
            y = ops.add(ops.multiply(x, _f32(scale).reshape(shape)), _f32(beta - mean * scale).reshape(shape))
        elif kind == "ReLU":
            if cfg.get("max_value") is not None or cfg.get("negative_slope") or cfg.get("threshold"):
                raise Unsupported(f"{what}: with max_value, negative_slope or threshold")
            y = ops.relu(x)
        elif kind == "LeakyReLU":
            slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
            y = ops.prelu(x, np.array([slope], np.float32))
        elif kind == "Activation":
            y = _activation(ops, x, cfg.get("activation"), rank, what)
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            if rank != 4:
                raise Unsupported(f"{what}: not on an image")
            size, strides, pad = _pool_attrs(cfg, what)
            if kind == "MaxPooling2D":
                y = ops.max_pool(x, strides, [1, 1], [0, 0], [0, 0], size, "floor", pad).output(0)
            else:
                y = ops.avg_pool(x, strides, [0, 0], [0, 0], size, True, "floor", pad)
        elif kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            if rank != 4:
                raise Unsupported(f"{what}: not on an image")
            reduce = ops.reduce_mean if kind.startswith("GlobalAverage") else ops.reduce_max
            keep = bool(cfg.get("keepdims"))
            y = reduce(x, np.array([2, 3], np.int64), keep)
            rank = 4 if keep else 2
        elif kind == "Flatten":
            if rank == 4:  # Keras flattens (H, W, C) in that order
                x = ops.transpose(x, [0, 2, 3, 1])
            y = ops.reshape(x, np.array([0, -1], np.int64), True)
            rank = 2
        else:
            raise Unsupported(f"{what}: this layer is not built without Keras")
        tensors[name] = (y, rank)
    out, rank = tensors[outputs[0]]
    if rank != 2:
        raise Unsupported(f"the output is a {rank}-D tensor, not class probabilities")
    model = ov.Model([ops.result(out)], [param], config.get("config", {}).get("name", "model"))
    # What OpenVINO's converter does to a model it reads: constants folded, batch norm and
    # the input's scaling fused into the convolutions' weights, so that bf16 rounds where it
    # rounds in a converted model.
    from openvino._offline_transformations import apply_moc_transformations

    apply_moc_transformations(model, cf=True)
    return model, side, config


def config_in_bfloat16(config: dict) -> bool:
    """True if any layer of the config computes in mixed_bfloat16."""
    text = json.dumps(config)
    return '"mixed_bfloat16"' in text


def input_channels(config: dict):
    """The channels of the model's input, from its InputLayer (None if not fixed)."""
    layers, inputs, _ = _layers(config)
    for layer in layers:
        if layer["name"] == inputs[0]:
            cfg = layer.get("config", {})
            shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
            return shape[-1] if shape else None
    return None
