"""The configuration of a training run: every field a recipe can set.

A recipe (`ferhw3.train.recipes`) is a named set of these fields; the command line changes any
of them with `--set key=value` (or a handful of dedicated options). The whole config is
saved beside the model, so a run can be repeated and resumed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class Config:
    """Every hyper-parameter of a run."""

    # network and schedule
    arch: str = "vgg-bn"
    epochs: int = 60
    minutes: float = 0.0            # > 0: size the epochs to this training-time budget on this machine
    max_epochs: int = 0             # with minutes: at most this many epochs (0: as many as fit)
    batch_size: int = 128
    val_size: float = 2871.0        # faces held out (10%), or a fraction below 1
    seed: int = 0                   # initial weights, shuffling, augmentation, dropout (and the split, unless split_seed)
    split_seed: int = -1            # the validation split's seed (-1: seed's): other seeds on the project's split
    optimizer: str = "sgd"          # sgd (Nesterov) | adam | adamw
    lr: float = 0.05
    schedule: str = "cosine"        # cosine (with warm-up) | plateau (ReduceLROnPlateau)
    warmup_epochs: int = 2
    weight_decay: float = 0.0       # decoupled, in the optimiser (models carry their own L2)
    label_smoothing: float = 0.1
    patience: int = 15              # early stopping on validation accuracy
    precision: str = "float32"      # float32 | mixed_bfloat16
    fused_bn: bool = True           # batch norm's training pass in TensorFlow's fused kernel (faster: studies/results_fused_bn.md)
    dropout: float = 0.5            # multiplies the architecture's dropout rates
    # augmentation
    augment: bool = True
    crop: int = 40                  # random crop side for training; 0 or 48: none
    rotation: float = 10.0          # max rotation, degrees
    zoom: float = 0.1               # max zoom, fraction
    shift: float = 0.0              # max shift, fraction of the side (on top of the crop)
    erase: float = 0.0              # probability of random erasing (a noise patch)
    mixup: float = 0.0              # > 0: mixup (Zhang et al. 2018), Beta(a, a) blends of faces and targets
    # knowledge distillation
    teachers: tuple = ()            # saved models whose mean probabilities join the targets
    distill: float = 0.5            # the teachers' share of each target
    unlabelled: str = ""            # with teachers: an id,feature CSV trained on with their targets
    teacher_windows: int = 0        # > 0: the teachers answer on a K x K grid of crop windows and mirrors,
                                    # each training crop learns their answer on its nearest window
    # self-training on unlabelled faces (after the supervised run)
    self_train: str = ""            # an id,feature CSV of unlabelled faces to pseudo-label
    threshold: float = 0.87         # minimum top probability of a pseudo-label
    rounds: int = 1                 # pseudo-label / retrain rounds
    self_train_epochs: int = 15     # epochs per round (or of the mean-teacher fine-tune)
    cap: str = "1"                  # class c gets at most CAP x its labelled count; "0": none; "prior"
    soft: bool = False              # soft, distribution-aligned pseudo-labels instead of capped hard ones
    agree: bool = False             # keep only faces whose ten test-time views agree
    mean_teacher: float = 0.0       # > 0: mean-teacher fine-tune with this consistency weight instead
    extra: dict = field(default_factory=dict)  # what a run measured (speed), not a setting

    def check(self) -> None:
        """Raise ValueError naming the first field whose value cannot work."""
        rules = [
            ("epochs", self.epochs >= 0, ">= 0"), ("minutes", self.minutes >= 0, ">= 0 (0: no budget)"),
            ("max_epochs", self.max_epochs >= 0, ">= 0 (0: no cap)"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("split_seed", self.split_seed >= -1, ">= 0, or -1 for seed's"),
            ("val_size", self.val_size >= 0, ">= 0 (a count, or a fraction below 1)"),
            ("optimizer", self.optimizer in ("sgd", "adam", "adamw"), "sgd, adam or adamw"),
            ("lr", self.lr > 0, "> 0"), ("schedule", self.schedule in ("cosine", "plateau"), "cosine or plateau"),
            ("warmup_epochs", self.warmup_epochs >= 0, ">= 0"), ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("crop", self.crop == 0 or 8 <= self.crop <= 48, "0 (none) or 8-48 pixels"),
            ("rotation", self.rotation >= 0, ">= 0"), ("zoom", 0 <= self.zoom < 1, "in [0, 1)"),
            ("shift", 0 <= self.shift < 1, "in [0, 1)"), ("erase", 0 <= self.erase <= 1, "a probability in [0, 1]"),
            ("mixup", self.mixup >= 0, ">= 0 (the Beta distribution's alpha; 0: none)"),
            ("dropout", self.dropout >= 0, ">= 0"), ("patience", self.patience >= 0, ">= 0"),
            ("precision", self.precision in ("float32", "mixed_bfloat16"), "float32 or mixed_bfloat16"),
            ("distill", 0 <= self.distill <= 1, "in [0, 1]"),
            ("unlabelled", not self.unlabelled or bool(self.teachers), "used with teachers (they label those faces)"),
            ("teacher_windows", self.teacher_windows == 0 or self.teacher_windows >= 2, "0 (off) or >= 2"),
            ("teacher_windows", not self.teacher_windows or bool(self.teachers), "used with teachers (they answer on the windows)"),
            ("teacher_windows", not self.teacher_windows or (self.augment and 0 < self.crop < 48
                                                              and self.teacher_windows <= 49 - self.crop),
             "used with augment and a crop below 48, at most 49 - crop windows a side"),
            ("teacher_windows", not self.teacher_windows or not (self.rotation or self.zoom or self.shift),
             "used without rotation, zoom or shift (the teachers answer on the very crops trained on)"),
            ("threshold", 0 <= self.threshold <= 1, "in [0, 1]"), ("rounds", self.rounds >= 1, ">= 1"),
            ("self_train_epochs", self.self_train_epochs >= 1, ">= 1"),
            ("cap", _cap_ok(self.cap), "a number >= 0 or 'prior'"),
            ("mean_teacher", self.mean_teacher >= 0, ">= 0"),
            ("mean_teacher", not self.mean_teacher or bool(self.self_train), "used with self_train (the faces it learns from)"),
        ]
        for name, ok, want in rules:
            if not ok:
                raise ValueError(f"{name}={_show(getattr(self, name))}: must be {want}")

    @property
    def validation_seed(self) -> int:
        """The seed of the stratified validation split."""
        return self.split_seed if self.split_seed >= 0 else self.seed

    def to_dict(self) -> dict:
        d = asdict(self)
        d["teachers"] = list(self.teachers)
        return d


def _cap_ok(text: str) -> bool:
    try:
        return text == "prior" or float(text) >= 0
    except ValueError:
        return False


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


FIELDS = {f.name: f for f in fields(Config) if f.name != "extra"}
_DEFAULTS = Config()


def parse_value(name: str, text: str):
    """`text` as the type of Config field `name`: numbers, booleans (true/false/1/0/yes/no),
    comma-separated paths for `teachers`, strings as they are. ValueError names the field."""
    if name not in FIELDS:
        raise ValueError(f"unknown setting {name!r}; the settings are: {', '.join(FIELDS)}")
    kind = type(getattr(_DEFAULTS, name))
    if kind is bool:
        low = text.strip().lower()
        if low not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ValueError(f"{name}={text}: must be true or false")
        return low in ("1", "true", "yes", "on")
    if kind is tuple:
        return tuple(p for p in (s.strip() for s in text.split(",")) if p)
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name}={text}: must be a{'n integer' if kind is int else ' number'}") from None


def parse_sets(pairs) -> dict:
    """{field: value} from `key=value` strings (dashes in keys work as underscores)."""
    out = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--set {pair}: must be key=value")
        name = key.strip().replace("-", "_")
        out[name] = parse_value(name, text)
    return out


def make_config(base: dict, *overrides: dict) -> Config:
    """Config defaults, then the recipe's `base` settings, then each override in order;
    checked. An override that sets `epochs` drops any time budget: an explicit epoch count
    wins (e.g. `hw3_train.sh train.csv --epochs 5`)."""
    settings = dict(base)
    for o in overrides:
        settings.update(o)
    unknown = [k for k in settings if k not in FIELDS]
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}")
    cfg = Config(**{k: tuple(v) if FIELDS[k].type == "tuple" else v for k, v in settings.items()})
    cfg.check()
    if any("epochs" in o for o in overrides):
        cfg.minutes = 0.0
    return cfg
