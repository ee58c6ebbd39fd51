"""SAE convergence along the run: held-out measurements and decoder snapshots at each checkpoint (curves.csv,
snapshots/), and two seeds' stability followed checkpoint by checkpoint (stability.csv)."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import torch

from frobnoscope.interp.sae.analysis import stability, stability_curve
from frobnoscope.interp.sae.model import SAEConfig
from frobnoscope.interp.sae.run import plot_curves, read_curves, write_stability
from frobnoscope.interp.sae.training import SAETrainConfig, load_sae, measure, read_snapshots, train_sae

D_IN, WIDTH, K = 16, 24, 2
CONFIG = SAETrainConfig(steps=150, batch_tokens=256, learning_rate=4e-3, checkpoint_every=50)


def planted(n: int, seed: int) -> torch.Tensor:
    """Sums of K of WIDTH random unit directions, magnitudes in [1, 2], x 5."""
    generator = torch.Generator().manual_seed(seed)
    dictionary = torch.nn.functional.normalize(torch.randn(WIDTH, D_IN, generator=generator), dim=1)
    chosen = torch.rand(n, WIDTH, generator=generator).argsort(1)[:, :K]
    codes = torch.zeros(n, WIDTH).scatter_(1, chosen, 1 + torch.rand(n, K, generator=generator))
    return 5.0 * codes @ dictionary


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    tokens, heldout = planted(6000, 0)[:5000], planted(6000, 0)[5000:]
    config = SAEConfig(d_in=D_IN, width=WIDTH, arch="topk", k=K, dead_tokens=2000)
    directories = []
    for seed in (0, 1):
        directory = tmp_path_factory.mktemp(f"seed{seed}") / "sae"
        train_sae(tokens, directory, config, CONFIG.model_copy(update={"seed": seed}),
                  evaluate=lambda sae: measure(sae, heldout))
        directories.append(directory)
    return directories, heldout


def test_the_curve_has_a_row_per_checkpoint_with_held_out_measurements_that_fall(seeds):
    (first, _), heldout = seeds
    curve, stable = read_curves(first)
    assert [row["step"] for row in curve] == [50, 100, 150] and stable == []
    final = measure(load_sae(first), heldout)
    assert curve[-1]["heldout_fvu"] == pytest.approx(final["fvu"], rel=1e-6)  # the last checkpoint is the SAE
    assert curve[-1]["heldout_l0"] == pytest.approx(final["l0"], rel=1e-6)
    assert curve[-1]["heldout_fvu"] < 0.7 * curve[0]["heldout_fvu"]  # it learns: the curve falls
    with open(first / "curves.csv", newline="") as f:
        header = set(next(csv.reader(f)))
    assert {"step", "loss", "l0", "dead_fraction", "heldout_fvu", "heldout_dense_fraction"} <= header


def test_each_checkpoint_keeps_its_unit_decoder_rows(seeds):
    (first, _), _ = seeds
    snapshots = read_snapshots(first)
    assert sorted(snapshots) == [50, 100, 150]
    decoder = torch.nn.functional.normalize(load_sae(first).W_dec.detach(), dim=1).numpy()
    np.testing.assert_allclose(snapshots[150], decoder, atol=2e-3)  # float16
    assert not np.allclose(snapshots[50], snapshots[150], atol=1e-2)  # the decoder moved between checkpoints


def test_stability_along_the_run_ends_at_the_finished_saes_stability(seeds, tmp_path):
    (first, second), _ = seeds
    curve = stability_curve(first, second)
    assert [point["step"] for point in curve] == [50, 100, 150]
    final = stability(load_sae(first), load_sae(second))
    assert curve[-1]["mean_matched_cosine"] == pytest.approx(final["mean_matched_cosine"], abs=2e-3)
    assert curve[-1]["fraction_above"] == pytest.approx(final["fraction_above"], abs=1 / WIDTH)
    chance = {point["chance"] for point in curve}  # one chance level per curve, from random dictionaries
    assert len(chance) == 1 and 0 < chance.pop() < curve[-1]["mean_matched_cosine"]
    same = tmp_path / "copy"
    shutil.copytree(first, same)
    assert all(point["mean_matched_cosine"] == pytest.approx(1.0, abs=1e-3) for point in stability_curve(first, same))


def test_write_stability_records_it_beside_the_curves_and_redraws_the_figure(seeds):
    (first, second), _ = seeds
    rows = write_stability(second, first)
    _, stable = read_curves(second)
    assert [row["step"] for row in stable] == [50, 100, 150] and stable[0]["against"] == first.name
    assert stable[-1]["mean_matched_cosine"] == pytest.approx(rows[-1]["mean_matched_cosine"])
    plot_curves(second)
    assert (second / "curves.png").stat().st_size > 5000


def test_a_studys_second_seed_follows_its_stability_against_the_first(tmp_path):
    from frobnoscope.app.study.builtin import study_path
    from frobnoscope.app.study.plan import plan_study
    from frobnoscope.app.study.schema import load_study

    stages = {stage.name: stage for stage in plan_study(load_study(study_path("ci")), tmp_path, device="cpu").stages}
    first, second = stages["conv.sae.decoder.4.s0"], stages["conv.sae.decoder.4.s1"]
    assert first.run.keywords["reference"] is None
    assert second.run.keywords["reference"] == first.outputs[0] and first.name in second.needs
