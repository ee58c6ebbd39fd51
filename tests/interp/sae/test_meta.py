"""Meta-SAEs on a planted compositional dictionary: 8 base directions (parts) in d = 32; latents 0-39 have decoder
rows that are the normalised sum of two parts with random weights (every pair of parts, some twice), latents 40-47
are the parts themselves (an SAE keeps a parent latent beside its compositions: "shape 3" beside "red shape 3"),
written as a finished SAE directory."""

from __future__ import annotations

import csv
import itertools
import json
import shutil
from collections import Counter

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

from frobnoscope.engine.config import ConfigError
from frobnoscope.engine.tensor_files import save_safetensors_atomic
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.sae.meta import MetaConfig, train_meta
from frobnoscope.interp.sae.model import SAEConfig
from frobnoscope.interp.sae.training import SAE_FILE, SAETrainConfig, finish, load_sae, train_sae

D, BASES, COMPOSITES, PLANT_SEED = 32, 8, 40, 2024
LATENTS = COMPOSITES + BASES
META = MetaConfig(k=2, steps=600, learning_rate=1e-2)  # width: the default M // 4 = 12


def planted_sae(directory, seed: int = PLANT_SEED) -> tuple[torch.Tensor, list[tuple[int, ...]]]:
    """A finished SAE in `directory` whose decoder rows compose the parts; returns (parts (8, d), each latent's
    parts). Its encoder stays random, unrelated to the rows."""
    generator = torch.Generator().manual_seed(seed)
    bases = torch.nn.functional.normalize(torch.randn(BASES, D, generator=generator), dim=1)
    combinations = list(itertools.combinations(range(BASES), 2))
    order = torch.randperm(len(combinations), generator=generator).tolist()
    pairs = [combinations[order[i % len(combinations)]] for i in range(COMPOSITES)]
    weights = 0.6 + 0.8 * torch.rand(COMPOSITES, 2, generator=generator)
    rows = torch.cat([torch.stack([w[0] * bases[a] + w[1] * bases[b] for (a, b), w in zip(pairs, weights)]), bases])
    config = SAEConfig(d_in=D, width=LATENTS, k=2)
    tokens = torch.randn(64, D, generator=generator)
    state = train_sae(tokens, directory, config, SAETrainConfig(steps=1, batch_tokens=64)).state_dict()
    state["W_dec"] = torch.nn.functional.normalize(rows, dim=1)
    save_safetensors_atomic(state, directory / SAE_FILE, metadata={"sae_config": json.dumps(config.to_dict())})
    finish(directory, {})
    return bases, pairs + [(base,) for base in range(BASES)]


def write_labels(directory, parts) -> None:
    """SAE_DIR/features/features.csv as `frob features label` writes it (the columns read): each latent labelled
    shape_id=<its lower part>, so the latents that use part 0 are exactly those labelled shape_id=0."""
    (directory / "features").mkdir()
    with open(directory / "features" / "features.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "feature", "label", "best_factor"])
        writer.writerow(["channel", 0, "", "rgb[0]"])
        writer.writerows(["latent", i, min(planted), f"shape_id={min(planted)}"] for i, planted in enumerate(parts))


def read_rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def meta_run(tmp_path_factory):
    sae_dir = tmp_path_factory.mktemp("planted") / "sae"
    bases, parts = planted_sae(sae_dir)
    write_labels(sae_dir, parts)
    out, summary = train_meta(sae_dir, config=META)
    return sae_dir, out, summary, bases, parts


def matched_meta_latents(out, bases) -> tuple[torch.Tensor, torch.Tensor]:
    """(best cosine, best meta-latent) of each base among the meta-SAE's decoder rows."""
    cosine = bases @ load_sae(out).W_dec.detach().t()
    return cosine.max(dim=1)


def test_meta_sae_recovers_the_base_directions(meta_run):
    _, out, summary, bases, _ = meta_run
    best, _ = matched_meta_latents(out, bases)
    assert (best > 0.9).all(), best
    assert summary["fvu"] < 0.05 and summary["mean_cosine"] > 0.97, summary


def test_each_latent_decomposes_into_its_planted_parts(meta_run):
    sae_dir, out, _, bases, parts = meta_run
    _, meta_of_base = matched_meta_latents(out, bases)
    meta_directions = load_sae(out).W_dec.detach()
    unit_rows = load_sae(sae_dir).W_dec.detach()
    rows = read_rows(out / "decomposition.csv")
    assert [int(row["latent"]) for row in rows] == list(range(LATENTS))
    for row, planted, unit_row in zip(rows, parts, unit_rows):
        named = {int(row[f"meta_{rank + 1}"]) for rank in range(len(planted))}
        assert named == {int(meta_of_base[base]) for base in planted}, (row, planted)
        assert float(row[f"coefficient_{len(planted)}"]) > 0.2 and float(row["cosine"]) > 0.99
        used = [rank + 1 for rank in range(min(int(row["active"]), 4))]
        rebuilt = sum(float(row[f"coefficient_{r}"]) * meta_directions[int(row[f"meta_{r}"])] for r in used)
        assert torch.linalg.norm(rebuilt - unit_row) < 0.05  # coefficients in the row's units: u_i ~ sum c_ij v_j
        assert row["label"] == f"shape_id={min(planted)}"


def test_each_part_is_the_meta_latent_shared_by_the_latents_that_contain_it(meta_run):
    _, out, summary, bases, parts = meta_run
    _, meta_of_base = matched_meta_latents(out, bases)
    by_id = {int(row["meta_latent"]): row for row in read_rows(out / "meta_latents.csv")}
    for base in range(BASES):
        row = by_id[int(meta_of_base[base])]
        users = [i for i, planted in enumerate(parts) if base in planted]
        assert sorted(int(i) for i in row["latents"].split()) == users and int(row["used_by"]) == len(users)
        labels = Counter(f"shape_id={min(parts[i])}" for i in users)
        assert dict(item.split(":") for item in row["labels"].split()) == {k: str(n) for k, n in labels.items()}
    assert by_id[int(meta_of_base[0])]["top_label"] == "shape_id=0"
    assert float(by_id[int(meta_of_base[0])]["top_share"]) == 1.0
    assert summary["labelled"] == LATENTS and summary["sharing"]["shared"] >= BASES
    assert json.loads((out / "meta.json").read_text()) == summary


def test_rerun_reopens_the_finished_meta_sae_and_other_settings_or_another_sae_are_refused(meta_run, tmp_path):
    sae_dir, out, summary, _, _ = meta_run
    before = (out / SAE_FILE).read_bytes()
    assert train_meta(sae_dir, config=META)[1] == summary
    assert (out / SAE_FILE).read_bytes() == before
    with pytest.raises(InterpError, match="other settings"):
        train_meta(sae_dir, config=META.model_copy(update={"seed": 1}))
    with pytest.raises(ConfigError, match=r"k: must be at most width \(12\), got 13$"):
        train_meta(sae_dir, config=META.model_copy(update={"k": 13}))
    with pytest.raises(ConfigError, match=r"width: must be at most M \(48\), got 49$"):
        train_meta(sae_dir, config=META.model_copy(update={"width": 49}))
    retrained = tmp_path / "sae"
    shutil.copytree(sae_dir, retrained)
    state = load_file(retrained / SAE_FILE)
    state["W_dec"] = state["W_dec"].flip(0)
    save_safetensors_atomic(state, retrained / SAE_FILE, metadata=safe_open(str(sae_dir / SAE_FILE), "pt").metadata())
    with pytest.raises(InterpError, match=r"other settings \(source.sae_blake2b\)"):
        train_meta(retrained, config=META)


def test_an_unfinished_or_missing_sae_is_a_one_line_error(tmp_path, frob_cli):
    code, stderr = frob_cli("sae", "meta", tmp_path)
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "is not an SAE directory" in stderr
    train_sae(torch.randn(64, D), tmp_path / "sae", SAEConfig(d_in=D, width=16, k=2), SAETrainConfig(steps=1))
    code, stderr = frob_cli("sae", "meta", tmp_path / "sae")
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "holds an unfinished SAE" in stderr


def test_cli_prints_the_most_shared_meta_latents_with_their_labels(meta_run, cli_defaults):
    from frobnoscope.app.cli.main import app

    sae_dir = meta_run[0]
    result = CliRunner().invoke(app, ["sae", "meta", str(sae_dir), "--k", "2", "--steps", "600",
                                      "--learning-rate", "0.01", "--device", "cpu"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "shape_id=0" in result.output and "meta.json" in result.output
    defaults = cli_defaults(MetaConfig, "sae", "meta")
    assert set(defaults) == {"width", "k", "arch", "steps", "batch_tokens", "learning_rate", "seed"}
    assert all(cli == config for cli, config in defaults.values()), defaults
