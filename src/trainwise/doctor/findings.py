"""What the doctor reports: a ``Finding`` per pathology, with a fixed code.

Every code is a way training goes wrong that the notes teach, with its
symptom, its cause and its remedy. ``CODES`` holds, for each code, a title,
the notes' explanation (with the seed file it comes from) and the ranked
names of the remedies in ``trainwise.doctor.remedies`` that treat it. A
``Finding`` is plain data (JSON through ``to_dict``/``from_dict``): which
code, how bad, where (step, epoch, layer), the numbers that show it, why it
happens and what to do.

Severities, from mild to grave: ``info`` (worth knowing; also used for a
symptom that another finding already explains), ``warning`` (the run is worse
than it should be), ``error`` (the run cannot learn, or has failed).

Steps are optimizer steps counted from 0 over the whole fit; epochs are
0-based, as in ``History.rows``. Messages speak to people and count epochs
from 1.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

__all__ = [
    "Finding", "CODES", "SEVERITIES", "severity_rank", "NAN_LOSS", "EXPLODING_GRADIENTS",
    "VANISHING_GRADIENTS", "SYMMETRIC_INIT", "DEAD_RELU", "SATURATION", "LR_TOO_HIGH", "LR_TOO_LOW",
    "OVERFITTING", "UNDERFITTING", "UNREPRESENTATIVE_VALIDATION", "UNREPRESENTATIVE_TRAIN",
    "UNNORMALIZED_INPUTS", "SOFTMAX_BEFORE_LOGITS_LOSS", "INPUT_DROPOUT", "findings_to_json",
    "findings_from_json",
]

SEVERITIES = ("info", "warning", "error")

NAN_LOSS = "nan_loss"
EXPLODING_GRADIENTS = "exploding_gradients"
VANISHING_GRADIENTS = "vanishing_gradients"
SYMMETRIC_INIT = "symmetric_init"
DEAD_RELU = "dead_relu"
SATURATION = "saturation"
LR_TOO_HIGH = "lr_too_high"
LR_TOO_LOW = "lr_too_low"
OVERFITTING = "overfitting"
UNDERFITTING = "underfitting"
UNREPRESENTATIVE_VALIDATION = "unrepresentative_validation"
UNREPRESENTATIVE_TRAIN = "unrepresentative_train"
UNNORMALIZED_INPUTS = "unnormalized_inputs"
SOFTMAX_BEFORE_LOGITS_LOSS = "softmax_before_logits_loss"
INPUT_DROPOUT = "input_dropout"


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for error."""
    if severity not in SEVERITIES:
        raise ValueError(f"'severity' must be one of {', '.join(SEVERITIES)}; got {severity!r}")
    return SEVERITIES.index(severity)


# code -> title, explanation (the notes' words, with the seed file), remedies (ranked names of
# trainwise.doctor.remedies.REMEDIES), and the source of the detection rule.
CODES: dict[str, dict] = {
    NAN_LOSS: {
        "title": "the loss became NaN or infinite",
        "explanation": (
            "Huge gradients make huge weight updates; the numbers overflow and the loss becomes NaN, after "
            "which nothing more can be learned (seed 001, 'Exploding Gradient Descent': 'huge values of the "
            "gradients may cause number overflow ... This might also lead to the loss of taking the value NaN'; "
            "seed 004: 'often resulting in divergence or NaN values')."),
        "remedies": ["rollback", "search_lr_down", "scale_lr_down", "clip_gradients"],
        "rule": "any non-finite training loss (SageMaker Debugger's ExplodingTensor; AUTOTRAINER's nan_loss)",
    },
    EXPLODING_GRADIENTS: {
        "title": "exploding gradients",
        "explanation": (
            "As backpropagation moves from the output towards the input the gradients keep growing, which "
            "causes very large weight updates and makes gradient descent diverge; a too-large initialization "
            "leads to exploding gradients (seed 003, 'Exploding gradients'; seed 004: 'caused by repeatedly "
            "multiplying large weights')."),
        "remedies": ["reinit", "clip_gradients", "scale_lr_down", "insert_batchnorm"],
        "rule": "AUTOTRAINER (Zhang et al. 2021): ||∇W_first|| / ||∇W_last|| > 70, or a global gradient norm "
                "above 1e3, or a non-finite gradient",
    },
    VANISHING_GRADIENTS: {
        "title": "vanishing gradients",
        "explanation": (
            "The gradient reaching the early layers is a product of many per-layer factors; with sigmoid or tanh "
            "(derivatives below 1) or with too-small weights the product shrinks exponentially, so the early "
            "layers barely change and training stalls (seed 003, 'Vanishing Gradients' and 'Why do the "
            "gradients vanish or explode'; seed 002, 'The Vanishing Gradient Problem'; seed 000: "
            "'(0.5)^10 = 0.00098')."),
        "remedies": ["switch_to_relu", "reinit", "insert_batchnorm", "add_residual"],
        "rule": "AUTOTRAINER (Zhang et al. 2021): ||∇W_first|| / ||∇W_last|| < 1e-3 and ||∇W_first|| < 1e-4",
    },
    SYMMETRIC_INIT: {
        "title": "symmetric (constant or zero) initialization",
        "explanation": (
            "When all weights start with the same value, every unit of a layer computes the same output and "
            "receives the same gradient, so the units evolve identically and never learn different features: "
            "the layer behaves like a single unit (seed 003, 'Any constant initialization scheme will perform "
            "very poorly'; seed 001, 'What happens when weight is initialized with W=0'; seed 000, 'Breaking "
            "Symmetry')."),
        "remedies": ["reinit"],
        "rule": "the rows (units) of a hidden layer's weights and biases are identical, before training or "
                "throughout it (relative spread < 1e-6)",
    },
    DEAD_RELU: {
        "title": "dead ReLUs",
        "explanation": (
            "A ReLU whose input is negative for every sample outputs 0 and has derivative 0, so no gradient "
            "flows through it and it never recovers; a large learning rate or a poor initialization can push "
            "many units there (seed 002, He initialization 'accounts for ReLU dead zone'; seed 000, He "
            "'prevents dying ReLUs')."),
        "remedies": ["reinit", "scale_lr_down", "switch_to_leaky_relu", "insert_batchnorm"],
        "rule": "a unit is dead when it is active (> 0) in fewer than 1% of the samples (SageMaker Debugger's "
                "DeadRelu threshold_inactivity); a layer is flagged when more than 70% of its units are dead "
                "(AUTOTRAINER's γ = 0.7)",
    },
    SATURATION: {
        "title": "saturated sigmoid/tanh units",
        "explanation": (
            "Sigmoid and tanh squash a large input range into (0, 1) or (-1, 1); when their inputs are large the "
            "output sits at the flat ends, the derivative is almost 0, and the gradient through the unit "
            "vanishes (seed 003, 'Certain activation functions, like the sigmoid function, reduces a large "
            "input space into a small input space'; seed 004: 'which squash input into a small range')."),
        "remedies": ["reinit", "standardize_inputs", "insert_batchnorm", "switch_to_relu"],
        "rule": "an output is saturated when the activation's derivative there is below 1% of its maximum "
                "(|tanh| > 0.995; sigmoid < 0.0025 or > 0.9975); a layer is flagged when more than 50% of its "
                "outputs are (SageMaker Debugger's SaturatedActivation threshold_layer 50%; its derivative "
                "threshold 1e-7 and unit-level count calibrated, see docs/doctor.md)",
    },
    LR_TOO_HIGH: {
        "title": "learning rate too high",
        "explanation": (
            "Steps that are too large overshoot the minimum again and again: the loss oscillates or grows, "
            "and the model never learns (seed 001, 'This may result in oscillating around the minima or even "
            "overshooting the optimum again and again and the model will never learn'; seed 003: 'initializing "
            "the weights with too large leads to divergence'; seed 002: use a learning-rate finder)."),
        "remedies": ["rollback", "search_lr_down", "scale_lr_down", "clip_gradients", "lr_find"],
        "rule": "divergence: a step's loss above 4x the lowest loss so far and 1.5x the first loss, twice or "
                "just before a NaN (4 is lr_find's divergence factor, Smith 2017); oscillation: AUTOTRAINER's "
                "rule on the per-epoch accuracy (peak-to-trough ≥ 0.03 in ≥ 20% of the epochs)",
    },
    LR_TOO_LOW: {
        "title": "learning rate too low (slow progress)",
        "explanation": (
            "With a tiny learning rate every update is minute: the loss falls very slowly and the model needs "
            "far more epochs than it should (seed 001, 'It converges to minima slowly'; seed 002 'Problems with "
            "basic SGD' and 'Learning Rate: use learning rate finder (LR range test)')."),
        "remedies": ["search_lr_up", "lr_find", "scale_lr_up"],
        "rule": "the loss fell by less than 5% over the run (SageMaker Debugger's LossNotDecreasing, over the "
                "whole run) while every layer's update-to-weight ratio stayed below 1e-4, or AUTOTRAINER's "
                "slow convergence (no epoch gains 0.01 accuracy while accuracy stays below 0.7)",
    },
    OVERFITTING: {
        "title": "overfitting",
        "explanation": (
            "The model learns the training data too well, noise included: training loss keeps falling while "
            "the validation loss turns upward, and the model generalizes worse the longer it trains (seed 003, "
            "'OVERFITTING' and 'Overfit Learning Curves'; seed 000: 'Training accuracy rises steadily, but test "
            "accuracy peaks and then drops'; seed 002, 'Early Stopping')."),
        "remedies": ["early_stop", "add_dropout", "add_weight_decay"],
        "rule": "the validation loss rose ≥ 10% above its minimum for ≥ 2 epochs while the training loss kept "
                "falling and (val − train)/train > 0.1 (SageMaker Debugger's Overfit ratio_threshold; "
                "AUTOTRAINER's test_turn_bad), or AUTOTRAINER's accuracy gap (≥ 0.1, or ≥ 0.07 above 0.9 "
                "training accuracy); the first form is a warning only when the validation accuracy fell ≥ 0.03 "
                "below its best or the accuracy gap is that wide, else info",
    },
    UNDERFITTING: {
        "title": "underfitting",
        "explanation": (
            "The model neither fits the training data nor generalizes: training and validation scores are both "
            "low and close together. It is too simple, trained too briefly or regularized too much (seed 003, "
            "'UnderFitting' and 'Underfit Learning Curves')."),
        "remedies": ["train_longer", "reduce_regularization", "scale_lr_up", "widen_model"],
        "rule": "best training and validation accuracy both below 0.7 (AUTOTRAINER's satisfied accuracy Θ) and "
                "within 0.1 of each other; without accuracy: final training loss above half the first",
    },
    UNREPRESENTATIVE_VALIDATION: {
        "title": "unrepresentative validation set",
        "explanation": (
            "A validation set with too few examples, or with classes in other proportions than the training "
            "set, does not provide enough information to evaluate how the model generalizes: its curve is "
            "noisy and its score misleading (seed 003, 'Unrepresentative Validation Dataset')."),
        "remedies": ["resplit_stratified"],
        "rule": "fewer than 10 validation samples per class (30 for regression), a training class missing "
                "from validation, or class proportions differing by a total variation distance above 0.25",
    },
    UNREPRESENTATIVE_TRAIN: {
        "title": "unrepresentative training set",
        "explanation": (
            "A training set with too few examples (fewer than the validation set), or dominated by some "
            "classes, does not provide sufficient information to learn the problem (seed 003, 'Diagnosing "
            "Unrepresentative Train Datasets'; seed 003 'Reasons behind overfitting': 'Small datasets')."),
        "remedies": ["reweight_classes", "resplit_stratified", "augment_data"],
        "rule": "largest/smallest class count > 10 (SageMaker Debugger's ClassImbalance threshold_imbalance), "
                "fewer training samples than validation samples, or fewer than 10 per class",
    },
    UNNORMALIZED_INPUTS: {
        "title": "inputs not normalized",
        "explanation": (
            "Features on very different scales (the notes' example: [0, 1] next to [1, 1000]) or far from unit "
            "scale make training slow and unstable; standardize each feature, x = (x − μ)/σ, with μ and σ from "
            "the training split (seed 003, 'Normalization and standardization of Data')."),
        "remedies": ["standardize_inputs"],
        "rule": "root mean square of the inputs outside [0.1, 10], or the largest feature standard deviation "
                "more than 100x the median (SageMaker Debugger's CheckInputImages mean > 0.2 is shown as "
                "evidence; calibrated, since moons (mean 0.35) trains fine)",
    },
    SOFTMAX_BEFORE_LOGITS_LOSS: {
        "title": "softmax before a loss that expects logits",
        "explanation": (
            "CrossEntropyLoss applies log-softmax itself (BCEWithLogitsLoss applies the sigmoid itself); a "
            "model that already ends in Softmax (or Sigmoid) squashes twice, so its outputs live in [0, 1], "
            "the loss cannot get small and the gradients shrink (seed 004, 'Softmax function'; PyTorch's "
            "CrossEntropyLoss documentation: 'The input is expected to contain the unnormalized logits')."),
        "remedies": ["remove_final_softmax"],
        "rule": "the model's last module is Softmax/Sigmoid and the loss is CrossEntropyLoss/BCEWithLogitsLoss, "
                "or it is Softmax and the loss is NLLLoss (which expects log-probabilities)",
    },
    INPUT_DROPOUT: {
        "title": "dropout on the inputs above 0.5",
        "explanation": (
            "Dropping more than half of the input features removes most of the information the model gets; "
            "the notes advise a much lower rate on the input layer, e.g. p = 0.1 or 0.2 (seed 002, 'Using "
            "Dropout in Practice')."),
        "remedies": ["lower_input_dropout"],
        "rule": "the first module the input meets is Dropout with p > 0.5",
    },
}


@dataclass
class Finding:
    """One diagnosis: ``code`` (a key of ``CODES``), ``severity`` (info/warning/error), where it was seen
    (``step``, ``epoch``, ``layer``; None when not tied to one), ``evidence`` (the numbers, a dict of
    plain values), ``message`` (one plain sentence), ``explanation`` (why, from the notes, with the seed
    file), ``remedies`` (ranked remedy names from ``trainwise.doctor.remedies``) and ``rule`` (the
    detection rule and its threshold's source). ``when`` is ``"before"`` for a pre-training check,
    ``"during"`` for a rule over the recorded statistics.

    Example: ``Finding("vanishing_gradients", "error", step=0, layer="0", evidence={"ratio": 1e-9})``.
    """

    code: str
    severity: str = "warning"
    message: str = ""
    step: int | None = None
    epoch: int | None = None
    layer: str | None = None
    evidence: dict = field(default_factory=dict)
    explanation: str = ""
    remedies: list = field(default_factory=list)
    rule: str = ""
    when: str = "during"

    def __post_init__(self):
        if self.code not in CODES:
            raise ValueError(f"Finding: 'code' must be one of {', '.join(CODES)}; got {self.code!r}")
        severity_rank(self.severity)
        info = CODES[self.code]
        if not self.explanation:
            self.explanation = info["explanation"]
        if not self.remedies:
            self.remedies = list(info["remedies"])
        if not self.rule:
            self.rule = info["rule"]
        if not self.message:
            self.message = info["title"]
        self.evidence = {k: _plain(v) for k, v in self.evidence.items()}

    @property
    def title(self) -> str:
        return CODES[self.code]["title"]

    def to_dict(self) -> dict:
        """Plain JSON-serializable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Finding":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    def where(self) -> str:
        parts = []
        if self.layer is not None:
            parts.append(f"layer {self.layer}")
        if self.epoch is not None:
            parts.append(f"epoch {self.epoch + 1}")
        if self.step is not None:
            parts.append(f"step {self.step}")
        return ", ".join(parts) if parts else ("before training" if self.when == "before" else "whole run")

    def __str__(self) -> str:
        ev = ", ".join(f"{k}={_short(v)}" for k, v in self.evidence.items())
        return (f"[{self.severity}] {self.code} ({self.where()}): {self.message}\n"
                f"    evidence: {ev or '-'}\n"
                f"    why: {self.explanation}\n"
                f"    what to do: {', '.join(self.remedies)}")


def _plain(v):
    """numpy scalars/arrays -> Python numbers/lists, so a finding is JSON."""
    if hasattr(v, "tolist"):
        return _plain(v.tolist())
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # "nan", "inf": strict JSON has no NaN
    return v


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, list) and len(v) > 6:
        return "[" + ", ".join(_short(x) for x in v[:6]) + ", ...]"
    if isinstance(v, list):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    return str(v)


def findings_to_json(findings) -> str:
    return json.dumps([f.to_dict() for f in findings])


def findings_from_json(text: str) -> list:
    return [Finding.from_dict(d) for d in json.loads(text)]
