"""LIMSSR: LLM-driven sequence-to-score reasoning under training-time incomplete observations
(Xu et al., ICML 2026; paper 002, code github XuHuangbiao/LIMSSR).

Each modality's segment features pass a projection (two 1x1 convolutions, Sec. 3.3) into the
LLM's embedding width. The LLM input is a prompt that names the present and the missing
modalities, then one block per modality -- ``<m_start>``, the projected features (present) or a
learned ``<missing_m>`` embedding repeated T times (missing), ``<m_end>`` -- present modalities
first, then K = 4 fusion tokens (Secs. 3.4-3.5). A causal LLM (Qwen3-0.6B in the paper,
Qwen2.5-0.5B in the released code; any local directory) with LoRA on the attention projections
reads it. Path 1 fuses the fusion tokens' last hidden states with learned role weights and
refines them with a mask-conditioned gated residual; path 2 pools the hidden states over each
modality's block, attends across modalities and weights them by a gate and the confidences
alpha_m = m + (1 - m) sigmoid(lambda_m). The score is lambda * H_sem + (1 - lambda) * H_dyn, each
head ending in a sigmoid (scores in 0..1). Losses: 10 * MSE(score, y) + MSE(main, aux)
(consistency) + token diversity of the K fusion tokens (hardest triplet on cosine distance with the
token index as label, margin 1).

Checkpoints hold what training changes: the LoRA adapters, our projections, special tokens and
heads, and the token embedding table where it is trainable. The frozen base weights are left out
of ``state_dict()`` (and not expected by ``load_state_dict``); they come from ``llm_path`` when the
network is rebuilt.

Where we differ from the released code, and why:

- Availability is a per-sample mask: every sample gets its own prompt and block order. The released
  code takes one mask per batch. Samples with different patterns are right-padded to one length;
  the LLM is causal, so padding after a sample's fusion tokens changes nothing it computes.
- The special tokens are our own parameters instead of rows added to the tokenizer's vocabulary
  (the same learned embeddings, without touching the tokenizer). ``train_embeddings`` makes the
  LLM's token embeddings (tied with its unused LM head) trainable as the paper and released code
  do; the app presets keep them frozen, since only the prompt words' rows would change and the
  table would make every checkpoint 0.6 GB.
- The LLM runs without its LM head (the released code computes vocabulary logits it never uses).
- The gate of path 1 is one layer and a sigmoid, as in the released code (the paper's text says
  two layers, but its parameter count, 618 M / 177 M, is that of the released one-layer gate).
- The token diversity loss follows the released code (hardest triplet). Eq. 17 as printed,
  [max sim - min sim + delta]_+ with delta = 1, is always positive and does not separate tokens
  across samples.
- In training, each sample's availability is replaced by a random non-empty subset of the
  modalities it really has (``train_masking``); the released code draws one of the 7 subsets per
  batch from complete data. Missing data stays missing: nothing is reconstructed.

Parameters (``parameter_counts``, from the configuration on the meta device): the fs1000 preset on
Qwen3-0.6B has 618,000,397 in total and 177,532,941 trainable (LoRA r = 16 and the 155.6 M token
embeddings; paper and released code: about 618 M / 177 M); on Qwen2.5-0.5B 509.8 M / 151.9 M. The
app preset (embeddings frozen) trains 23.1 M of 619.1 M.

CUDA: ``dtype="bfloat16"`` (LLM weights) and ``gradient_checkpointing`` are tested on CPU only.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.limssr_blocks import PatternPath, Projection, SemanticPath, prompt_text, regression_head
from models.llm_config import (
    BACKBONE_KEYS,
    BACKBONES,
    ModelUnavailableError,
    llm_from_config,
    load_llm,
    require_llm_packages,
    write_tiny_llm,
)
from models.losses import hardest_triplet_loss
from models.output import GradeOutput, check_available, masked_mean, segment_validity

__all__ = [
    "LIMSSR",
    "LIMSSRConfig",
    "ModelUnavailableError",
    "build",
    "parameter_counts",
    "write_tiny_backbone",
]

PAPER_MODALITIES = ("rgb", "audio", "flow")
APP_MODALITIES = ("skeleton", "flow", "audio", "rgb")
PROMPT_NAMES = {"rgb": "visual"}  # how the prompt names a modality where it differs from its key
_PAPER_DIMS = {"rgb": 1024, "audio": 768, "flow": 1024}  # VST / AST / I3D (RG, Fis-V)

PRESETS: dict[str, dict] = {
    "fs1000": {"input_dims": {**_PAPER_DIMS, "rgb": 768}, "segments": 95, "dropout": 0.15},
    "fisv": {"input_dims": dict(_PAPER_DIMS), "segments": 124, "dropout": 0.15},
    "rg": {"input_dims": dict(_PAPER_DIMS), "segments": 68, "dropout": 0.35},
    "app": {
        "modalities": APP_MODALITIES,
        "input_dims": {"skeleton": 102, "flow": 64, "audio": 128, "rgb": 1280},
        "segments": 32,
        "train_embeddings": False,
    },
    "small": {
        "modalities": APP_MODALITIES,
        "input_dims": {"skeleton": 102, "flow": 64, "audio": 128, "rgb": 1280},
        "segments": 16,
        "dropout": 0.1,
        "train_embeddings": False,
    },
}


@dataclass
class LIMSSRConfig:
    """Architecture, adapter and loss settings; the defaults are the paper's."""

    modalities: tuple[str, ...] = PAPER_MODALITIES
    input_dims: dict[str, int] = field(default_factory=dict)
    segments: int = 32  # T per modality block (the data pipeline crops to it)
    llm_path: str | None = None  # local directory of the LLM and its tokenizer
    fusion_tokens: int = 4
    dropout: float = 0.15
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    train_embeddings: bool = True  # paper / released code: token embeddings trainable
    attention_heads: int = 4
    synergy_init: float = 0.7  # lambda_syn
    confidence_init: float = 0.6  # lambda_m (before the sigmoid)
    train_masking: bool = True
    num_grades: int = 5  # grade points the score is spread over in ``grade_probs``
    task_weight: float = 10.0
    consistency_weight: float = 1.0
    diversity_weight: float = 1.0
    margin: float = 1.0
    dtype: str = "float32"  # LLM weights: float32 or bfloat16
    gradient_checkpointing: bool = False
    prompt_names: dict[str, str] = field(default_factory=lambda: dict(PROMPT_NAMES))

    def __post_init__(self) -> None:
        self.modalities = tuple(self.modalities)
        self.lora_targets = tuple(self.lora_targets)
        unknown = [m for m in self.modalities if m not in self.input_dims]
        if unknown:
            raise ValueError(f"No input dimension given for modality {unknown[0]!r}.")
        self.input_dims = {m: int(self.input_dims[m]) for m in self.modalities}
        if not self.modalities:
            raise ValueError("LIMSSR needs at least one modality.")
        if self.fusion_tokens < 1 or self.num_grades < 2 or self.segments < 1:
            raise ValueError("fusion_tokens and segments must be positive, num_grades at least 2.")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError("dtype must be float32 or bfloat16.")
        if self.llm_path is not None:
            self.llm_path = str(self.llm_path)


def build(preset: str, **overrides) -> LIMSSR:
    """The network of ``preset`` on the LLM in ``llm_path`` (an override; nothing is downloaded).

    Raises ``ModelUnavailableError`` without the ``llm`` extra or the LLM directory.
    """
    settings = {**PRESETS[preset], **overrides}
    settings["input_dims"] = {**PRESETS[preset]["input_dims"], **overrides.get("input_dims", {})}
    config = LIMSSRConfig(**settings)
    llm, tokenizer = load_llm(config.llm_path, config.dtype)
    return LIMSSR(config, llm, tokenizer)


def parameter_counts(preset: str = "fs1000", backbone: str = "qwen3-0.6b", **overrides) -> dict:
    """Total and trainable parameters of ``preset`` on a published backbone, computed on the meta
    device from its configuration (no weights are read or allocated)."""
    require_llm_packages()
    settings = {**PRESETS[preset], **overrides}
    config = LIMSSRConfig(**settings)
    with torch.device("meta"):
        model = LIMSSR(config, llm_from_config(BACKBONES[backbone]), tokenizer=None)
    return model.parameter_counts()


def write_tiny_backbone(
    directory: str | Path,
    modalities: Sequence[str],
    prompt_names: dict[str, str] | None = None,
    seed: int = 0,
    **llm_config: int,
) -> Path:
    """A tiny random Qwen3 (``models.llm_config.TINY_QWEN3``) whose word-level tokenizer knows
    every prompt LIMSSR writes for ``modalities``: the LLM of tests and CPU benchmarks."""
    names = [(prompt_names or PROMPT_NAMES).get(m, m) for m in modalities]
    texts = []
    for subset in range(1, 2 ** len(names)):
        here = [bool(subset >> i & 1) for i in range(len(names))]
        texts.append(
            prompt_text(
                [n for n, h in zip(names, here) if h], [n for n, h in zip(names, here) if not h]
            )
        )
    return write_tiny_llm(directory, texts, seed=seed, **llm_config)


class LIMSSR(nn.Module):
    """LIMSSR on a given LLM decoder stack (``transformers`` base model) and its tokenizer."""

    def __init__(self, config: LIMSSRConfig, llm: nn.Module, tokenizer) -> None:
        super().__init__()
        from peft import LoraConfig, get_peft_model

        self.config = config
        self.modalities = config.modalities
        self.input_dims = dict(config.input_dims)
        self.tokenizer = tokenizer
        self._prompts: dict[tuple[bool, ...], Tensor] = {}
        width = llm.config.hidden_size
        m = len(self.modalities)

        embedding = llm.get_input_embeddings().weight
        lora = LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=list(config.lora_targets),
        )
        with warnings.catch_warnings():  # peft calls an attribute transformers 5 deprecates
            warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
            self.llm = get_peft_model(llm, lora)
        embedding.requires_grad_(config.train_embeddings)
        if config.gradient_checkpointing:
            base = self.llm.base_model.model
            if hasattr(base, "activation_checkpointing_enable"):  # transformers >= 5 name
                base.activation_checkpointing_enable({"use_reentrant": False})
            else:
                base.gradient_checkpointing_enable({"use_reentrant": False})

        self.proj = nn.ModuleDict(
            {n: Projection(config.input_dims[n], width, config.dropout) for n in self.modalities}
        )
        # special tokens: <m_start>/<m_end> per modality, <missing_m>, K fusion tokens
        self.boundary = nn.Parameter(torch.empty(m, 2, width))
        self.missing = nn.Parameter(torch.empty(m, width))
        self.fusion = nn.Parameter(torch.empty(config.fusion_tokens, width))
        self.semantic = SemanticPath(width, m, config.fusion_tokens, config.dropout)
        self.pattern = PatternPath(
            width, m, config.attention_heads, config.dropout, config.confidence_init
        )
        self.head_sem = regression_head(width, config.dropout)
        self.head_dyn = regression_head(width, config.dropout)
        self.synergy = nn.Parameter(torch.tensor(float(config.synergy_init)))
        self.register_buffer("grades", torch.linspace(0, 1, config.num_grades), persistent=False)
        if embedding.device.type != "meta":
            self._init_special_tokens(embedding.detach().float())

        self._base_names = {n for n, p in self.named_parameters() if not p.requires_grad}
        self._load_prefix = ""
        self.register_state_dict_post_hook(_drop_base_weights)
        self.register_load_state_dict_pre_hook(_remember_prefix)
        self.register_load_state_dict_post_hook(_allow_missing_base_weights)

    def _init_special_tokens(self, table: Tensor) -> None:
        """New tokens start like the vocabulary's words: drawn per dimension with the embedding
        table's mean and standard deviation."""
        mean, std = table.mean(dim=0), table.std(dim=0)
        for p in (self.boundary, self.missing, self.fusion):
            with torch.no_grad():
                p.copy_(mean + std * torch.randn(p.shape))

    # ------------------------------------------------------------------------------------------
    def forward(
        self,
        features: dict[str, Tensor],
        available: Tensor,
        target: Tensor | None = None,
        valid: dict[str, Tensor] | None = None,
    ) -> GradeOutput:
        """Grade a batch; ``available`` [B, M] says which modalities each sample has, ``valid``
        (name -> [B, T] bool, None: all) which segments hold data. Invalid segments are hidden
        from the LLM's attention, take no position (the valid tokens keep the positions they have
        without them) and are left out of the per-modality pooling; a modality without a valid
        segment counts as missing.

        In training mode each sample sees a random non-empty subset of its modalities
        (``train_masking``) and ``losses`` holds consistency, diversity (and task with a target)
        and their weighted ``total``.
        """
        available = self._check(features, available)
        valid, available = segment_validity(self.modalities, features, available, valid)
        if self.training and self.config.train_masking:
            available = self.draw_training_mask(available)
        mask = available.float()
        sequence, spans, ends, attend = self._sequence(features, available, valid)
        if attend is None:
            hidden = self.llm(inputs_embeds=sequence, use_cache=False).last_hidden_state
        else:
            positions = (attend.long().cumsum(dim=1) - 1).clamp(min=0)
            hidden = self.llm(
                inputs_embeds=sequence,
                attention_mask=attend.long(),
                position_ids=positions,
                use_cache=False,
            ).last_hidden_state
        hidden = hidden.float()

        k = self.config.fusion_tokens
        rows = torch.arange(hidden.shape[0], device=hidden.device)[:, None]
        fusion = hidden[rows, ends[:, None] - k + torch.arange(k, device=hidden.device)]
        z_main = self.semantic(fusion, mask)
        blocks = []
        for i, t in enumerate(self._lengths(features)):
            at = spans[:, i, None] + torch.arange(t, device=hidden.device)
            blocks.append(
                masked_mean(hidden[rows, at], None if attend is None else attend[rows, at])
            )
        pooled = torch.stack(blocks, dim=1)
        z_aux, weights = self.pattern(pooled, mask)
        main = torch.sigmoid(self.head_sem(z_main).squeeze(-1))
        aux = torch.sigmoid(self.head_dyn(z_aux).squeeze(-1))
        score = self.synergy * main + (1 - self.synergy) * aux
        out = GradeOutput(
            score=score,
            grade_probs=self._grade_probs(score),
            embedding=z_main,
            modality_weights=weights / weights.sum(dim=1, keepdim=True),
        )
        if self.training:
            out.losses = self._losses(score, main, aux, fusion, target)
        return out

    def _check(self, features: dict[str, Tensor], available: Tensor) -> Tensor:
        return check_available(self.modalities, features, available)

    def _lengths(self, features: dict[str, Tensor]) -> list[int]:
        """T per modality block: the features' length, the configured one where none are given."""
        return [
            features[n].shape[1] if n in features else self.config.segments for n in self.modalities
        ]

    def draw_training_mask(self, available: Tensor) -> Tensor:
        """Per sample, a uniformly drawn non-empty subset of the modalities it has."""
        m = available.shape[1]
        subsets = torch.tensor(
            [[(s >> i) & 1 for i in range(m)] for s in range(1, 2**m)],
            dtype=torch.bool,
            device=available.device,
        )  # [S, M]
        fits = (subsets[None] <= available[:, None]).all(-1).float()  # [B, S]
        return subsets[torch.multinomial(fits, 1).squeeze(1)]

    def _prompt_ids(self, pattern: tuple[bool, ...], device: torch.device) -> Tensor:
        ids = self._prompts.get(pattern)
        if ids is None:
            if self.tokenizer is None:
                raise ModelUnavailableError("This LIMSSR network was built without a tokenizer.")
            names = [self.config.prompt_names.get(n, n) for n in self.modalities]
            text = prompt_text(
                [n for n, here in zip(names, pattern) if here],
                [n for n, here in zip(names, pattern) if not here],
            )
            ids = torch.tensor(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            self._prompts[pattern] = ids
        return ids.to(device)

    def _sequence(
        self, features: dict[str, Tensor], available: Tensor, valid: dict[str, Tensor] | None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """The LLM input for every sample, right-padded to one length: embeddings [B, L, D],
        the first position of each modality block's content [B, M], the end of each sample's
        sequence [B] (its last K positions are the fusion tokens) and, with ``valid``, which
        positions hold a valid token [B, L] (None: all up to each end)."""
        b, m = available.shape
        device = available.device
        lengths = self._lengths(features)
        projected = {}
        for i, name in enumerate(self.modalities):
            rows = available[:, i].nonzero().squeeze(1)
            if rows.numel():
                x = features[name]
                projected[name] = self.proj[name]((x if rows.numel() == b else x[rows]).float())
        rank = available.long().cumsum(dim=0) - 1  # row of a sample within its modality's batch
        embed = self.llm.get_input_embeddings()
        patterns, group = torch.unique(available, dim=0, return_inverse=True)
        pieces, order, attends = [], [], []
        spans = torch.zeros(b, m, dtype=torch.long, device=device)
        ends = torch.zeros(b, dtype=torch.long, device=device)
        for g, pattern in enumerate(patterns.tolist()):
            rows = (group == g).nonzero().squeeze(1)
            n = rows.numel()
            prompt = embed(self._prompt_ids(tuple(pattern), device)).float()
            parts = [prompt.expand(n, -1, -1)]
            pos = prompt.shape[0]
            flags = [torch.ones(n, pos, dtype=torch.bool, device=device)]
            for i in [i for i in range(m) if pattern[i]] + [i for i in range(m) if not pattern[i]]:
                name = self.modalities[i]
                content_ok = torch.ones(n, lengths[i], dtype=torch.bool, device=device)
                if pattern[i]:
                    content = projected[name][rank[rows, i]]
                    if valid is not None and name in valid:
                        content_ok = valid[name][rows]
                else:
                    content = self.missing[i].expand(n, lengths[i], -1)
                parts += [self.boundary[i, 0].expand(n, 1, -1), content]
                parts.append(self.boundary[i, 1].expand(n, 1, -1))
                one = torch.ones(n, 1, dtype=torch.bool, device=device)
                flags += [one, content_ok, one]
                spans[rows, i] = pos + 1
                pos += lengths[i] + 2
            parts.append(self.fusion.expand(n, -1, -1))
            flags.append(torch.ones(n, self.config.fusion_tokens, dtype=torch.bool, device=device))
            ends[rows] = pos + self.config.fusion_tokens
            pieces.append(torch.cat(parts, dim=1))
            attends.append(torch.cat(flags, dim=1))
            order.append(rows)
        longest = max(p.shape[1] for p in pieces)
        padded = torch.cat([F.pad(p, (0, 0, 0, longest - p.shape[1])) for p in pieces])
        inverse = torch.empty(b, dtype=torch.long, device=device)
        inverse[torch.cat(order)] = torch.arange(b, device=device)
        attend = None
        if valid is not None:
            attend = torch.cat([F.pad(a, (0, longest - a.shape[1])) for a in attends])[inverse]
        return padded[inverse].to(embed.weight.dtype), spans, ends, attend

    def _grade_probs(self, score: Tensor) -> Tensor:
        """The score as a distribution over ``num_grades`` equally spaced grade points: the two
        points around it share the mass linearly, so the expected grade point is the score."""
        spacing = 1.0 / (self.config.num_grades - 1)
        dist = (score.detach()[:, None].clamp(0, 1) - self.grades[None]).abs()
        probs = (1 - dist / spacing).clamp(min=0)
        return probs / probs.sum(dim=1, keepdim=True)

    def _losses(
        self, score: Tensor, main: Tensor, aux: Tensor, fusion: Tensor, target: Tensor | None
    ) -> dict[str, Tensor]:
        c = self.config
        losses = {
            "consistency": F.mse_loss(main, aux),
            "diversity": hardest_triplet_loss(fusion, c.margin),
        }
        total = c.consistency_weight * losses["consistency"]
        total = total + c.diversity_weight * losses["diversity"]
        if target is not None:
            losses["task"] = F.mse_loss(score, target.to(score.dtype))
            total = total + c.task_weight * losses["task"]
        losses["total"] = total
        return losses

    # ------------------------------------------------------------------------------------------
    def parameter_counts(self) -> dict[str, int]:
        """Total and trainable parameters (tied weights counted once)."""
        params = list(self.parameters())
        return {
            "total": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad),
        }

    def config_dict(self) -> dict:
        """The configuration as plain JSON values (for model cards)."""
        d = asdict(self.config)
        d["modalities"] = list(d["modalities"])
        d["lora_targets"] = list(d["lora_targets"])
        llm = self.llm.base_model.model.config
        d["llm"] = getattr(llm, "_name_or_path", None)
        d["backbone"] = {k: getattr(llm, k, None) for k in BACKBONE_KEYS}
        return d


def _drop_base_weights(module: LIMSSR, state: dict, prefix: str, local_metadata) -> None:
    for name in module._base_names:
        state.pop(prefix + name, None)


def _remember_prefix(module: LIMSSR, state, prefix: str, *args) -> None:
    module._load_prefix = prefix


def _allow_missing_base_weights(module: LIMSSR, incompatible) -> None:
    base = {module._load_prefix + name for name in module._base_names}
    incompatible.missing_keys[:] = [k for k in incompatible.missing_keys if k not in base]
