"""Meta-SAEs (Bussmann et al. 2024, "Showing SAE latents are not atomic using meta-SAEs"): an SAE trained on another
SAE's dictionary, to show which latents are compositions of shared parts.

Tokens: the SAE's M unit decoder rows u_i = W_dec[i] / ||W_dec[i]|| (d,), one token each. The meta-SAE (a
`SparseAutoencoder`, default BatchTopK with width M_meta = M // 4 and k = 4) is trained on them like any SAE
(`training`: normalised by s = sqrt(d) for unit rows, same batches, schedule, checkpoints and exact resume) except
that its decoder bias b_dec is fixed at 0, a buffer that is never trained: a latent is a sum of meta-latents, with no
offset shared by all. (The rows of a compositional dictionary share a mean direction; a trained b_dec starts there,
takes over parts and leaves meta-latents that subtract them. On the planted dictionary of
tests/interp/sae/test_meta.py, 3 dictionaries x 8 seeds, b_dec = 0 recovered every part in 24 runs and decomposed
every latent exactly in 19; a trained b_dec in 18 and 3.) A meta-latent that fired on no row for DEAD_EPOCHS passes
over the dictionary counts as dead (AuxK revives it). Latent i's decomposition is its meta code c_i = encode(u_i) in
eval mode (BatchTopK: the running threshold, so a row may use more or fewer than k meta-latents), reported as
coefficients of the unit meta directions v_j in the row's units: u_i ~ sum_j (c_ij / s) v_j.

Meta directory (default SAE_DIR/meta): an SAE directory (see `training`: manifest.json, checkpoints/,
sae.safetensors, curves.csv) whose source is {"sae_blake2b": the hash of SAE_DIR/sae.safetensors, "b_dec": "fixed
at 0"}, so a meta-SAE of a retrained SAE is refused rather than resumed; the report below is in its manifest too; and
  decomposition.csv  one row per latent: latent, active (meta-latents active on its row), meta_1, coefficient_1, ...,
                     meta_TOP, coefficient_TOP (its TOP = 4 largest, blank past `active`), cosine of u_i with its
                     reconstruction, label (its `best_factor` in SAE_DIR/features/features.csv when `frob features
                     label` has run with --sae SAE_DIR; blank when unmatched)
  meta_latents.csv   one row per meta-latent, most used first: meta_latent, used_by (latents whose row uses it),
                     latents (their ids, largest coefficient first), top_label and top_share (the most common label
                     among them and its share of them), labels ("label:count" by count)
  meta.json          sae (SAE_DIR), latents M, meta_width, k, fvu (of the rows), mean_active, mean_cosine, and
                     sharing: meta-latents used by none, by one, by more than one latent, mean and max used_by
Rerunning after `frob features label` joins the labels (the finished meta-SAE is reloaded, not retrained).
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from frobnoscope.engine.config import Config, ConfigError
from frobnoscope.engine.runs import MANIFEST, write_json_atomic
from frobnoscope.engine.tables import write_csv
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.sae import training
from frobnoscope.interp.sae.model import Arch, SAEConfig
from frobnoscope.models.device import to_numpy

TOP = 4
DEAD_EPOCHS = 10
FEATURES_TABLE = Path("features") / "features.csv"


class MetaConfig(Config):
    """A meta-SAE's shape and optimisation; stored in its directory's manifest as `SAEConfig` and `SAETrainConfig`."""

    width: int | None = Field(None, ge=1, description="meta-latents M_meta (default M // 4 of the SAE's M latents)")
    k: int = Field(4, ge=1, description="active meta-latents per decoder row")
    arch: Arch = "batchtopk"
    steps: int = Field(2000, ge=1, description="optimizer steps")
    batch_tokens: int = Field(1024, ge=1, description="decoder rows per step (at most M)")
    learning_rate: float = Field(1e-3, gt=0, description="peak Adam learning rate")
    seed: int = Field(0, ge=0, description="initialisation and row order")


def train_meta(sae_dir, out=None, config: MetaConfig | None = None, device: str | torch.device | None = "cpu",
               on_step: Callable | None = None) -> tuple[Path, dict]:
    """Train (or resume, or reopen) the meta-SAE of the finished SAE in `sae_dir` on `device`; write the
    decomposition files (module docstring). Returns (meta directory, meta.json's summary)."""
    sae_dir, config = Path(sae_dir), config or MetaConfig()
    width = meta_width(sae_dir, config)
    rows = torch.nn.functional.normalize(training.load_sae(sae_dir).W_dec.detach().float(), dim=1)
    latents, d = rows.shape
    out = Path(out) if out else sae_dir / "meta"
    sae_config = SAEConfig(d_in=d, width=width, arch=config.arch, k=config.k, dead_tokens=DEAD_EPOCHS * latents)
    train_config = training.SAETrainConfig(steps=config.steps, batch_tokens=min(config.batch_tokens, latents),
                                           learning_rate=config.learning_rate, seed=config.seed)
    digest = hashlib.blake2b((sae_dir / training.SAE_FILE).read_bytes(), digest_size=16).hexdigest()
    source = {"sae_blake2b": digest, "b_dec": "fixed at 0"}
    meta = training.train_sae(rows, out, sae_config, train_config, source=source, on_step=on_step, device=device,
                              zero_decoder_bias=True)
    with torch.no_grad():
        on_device = rows.to(meta.W_dec.device)
        codes = to_numpy(meta.encode(on_device)).astype(np.float64) / float(meta.input_scale)
        cosine = to_numpy(torch.nn.functional.cosine_similarity(meta(on_device), on_device))
    labels = read_labels(sae_dir)
    write_csv(out / "decomposition.csv", decomposition_rows(codes, cosine, labels))
    used = meta_latent_rows(codes, labels)
    write_csv(out / "meta_latents.csv", used)
    used_by = np.array([row["used_by"] for row in used])
    summary = {"sae": str(sae_dir.resolve()), "latents": latents, "meta_width": width, "k": config.k,
               "fvu": training.measure(meta, rows)["fvu"], "mean_active": float((codes > 0).sum(1).mean()),
               "mean_cosine": float(cosine.mean()), "labelled": sum(bool(label) for label in labels.values()),
               "sharing": {"unused": int((used_by == 0).sum()), "used_by_one": int((used_by == 1).sum()),
                           "shared": int((used_by > 1).sum()), "mean_used_by": float(used_by.mean()),
                           "max_used_by": int(used_by.max())}}
    write_json_atomic(out / "meta.json", summary)
    training.finish(out, summary)
    return out, summary


def meta_width(sae_dir: Path, config: MetaConfig) -> int:
    """M_meta for the SAE in `sae_dir` (read from its manifest, cheap: the CLI checks before drawing a bar); a one-line
    error for an unfinished SAE or settings that do not fit it (width <= M, k <= width)."""
    manifest = training.read_manifest(sae_dir)
    if not manifest.get("complete"):
        raise InterpError(f"{sae_dir} holds an unfinished SAE; rerun its `frob sae train` command to finish it")
    latents = manifest["sae"].get("width")
    if not isinstance(latents, int):
        raise InterpError(f"{sae_dir / MANIFEST} is damaged (no valid 'sae.width'); delete {sae_dir} and train it "
                          "again")
    width = config.width or max(1, latents // 4)
    if width > latents or config.k > width:
        field, bound = ("width", f"M ({latents})") if width > latents else ("k", f"width ({width})")
        raise ConfigError("meta-SAE settings", [(field, f"must be at most {bound}, got {getattr(config, field)}")])
    return width


def decomposition_rows(codes: np.ndarray, cosine: np.ndarray, labels: dict[int, str]) -> list[dict]:
    """decomposition.csv's rows from the meta codes (M, M_meta) in row units and the reconstruction cosines (M,)."""
    table = []
    for latent, code in enumerate(codes):
        order = [j for j in np.argsort(-code, kind="stable")[:TOP] if code[j] > 0]
        row = {"latent": latent, "active": int((code > 0).sum())}
        for rank in range(TOP):
            row[f"meta_{rank + 1}"] = int(order[rank]) if rank < len(order) else ""
            row[f"coefficient_{rank + 1}"] = float(code[order[rank]]) if rank < len(order) else ""
        table.append({**row, "cosine": float(cosine[latent]), "label": labels.get(latent, "")})
    return table


def meta_latent_rows(codes: np.ndarray, labels: dict[int, str]) -> list[dict]:
    """meta_latents.csv's rows, most used meta-latent first (ties: lower id)."""
    table = []
    for j, column in enumerate(codes.T):
        users = [int(i) for i in np.argsort(-column, kind="stable") if column[i] > 0]
        counts = Counter(labels[i] for i in users if labels.get(i))
        top, top_count = counts.most_common(1)[0] if counts else ("", 0)
        table.append({"meta_latent": j, "used_by": len(users), "latents": " ".join(map(str, users)),
                      "top_label": top, "top_share": top_count / len(users) if users else 0.0,
                      "labels": " ".join(f"{label}:{count}" for label, count in counts.most_common())})
    return sorted(table, key=lambda row: -row["used_by"])


def read_labels(sae_dir: Path) -> dict[int, str]:
    """{latent: best_factor} from SAE_DIR/features/features.csv ({} when it is absent)."""
    path = sae_dir / FEATURES_TABLE
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"kind", "feature", "best_factor"} <= set(rows[0]):
        raise InterpError(f"{path} lacks the kind, feature or best_factor column; rerun `frob features label` on it")
    return {int(row["feature"]): row["best_factor"] for row in rows if row["kind"] == "latent"}
