"""Sparse autoencoders on synthetic activations with a planted sparse dictionary."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from frobnoscope.engine.config import ConfigError, validate_config
from frobnoscope.engine.runs import MANIFEST
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.sae import analysis as sae_analysis
from frobnoscope.interp.sae.model import SAEConfig, SparseAutoencoder
from frobnoscope.interp.sae.run import SAERunConfig
from frobnoscope.interp.sae.training import SAETrainConfig, load_sae, measure, train_sae, training_step

D_IN, TRUE_FEATURES, TRUE_K = 16, 24, 2


def planted(n: int = 6000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens = sum of TRUE_K random unit directions out of TRUE_FEATURES, magnitudes in [1, 2], x 5 (hook units)."""
    generator = torch.Generator().manual_seed(seed)
    dictionary = torch.randn(TRUE_FEATURES, D_IN, generator=generator)
    dictionary /= dictionary.norm(dim=1, keepdim=True)
    chosen = torch.rand(n, TRUE_FEATURES, generator=generator).argsort(1)[:, :TRUE_K]
    codes = torch.zeros(n, TRUE_FEATURES).scatter_(1, chosen, 1 + torch.rand(n, TRUE_K, generator=generator))
    return 5.0 * codes @ dictionary, dictionary


def max_cosine(dictionary: torch.Tensor, sae: SparseAutoencoder) -> torch.Tensor:
    return (dictionary @ sae.W_dec.detach().t()).max(dim=1).values


CONFIG = SAETrainConfig(steps=200, batch_tokens=256, learning_rate=4e-3, checkpoint_every=100)


@pytest.fixture(scope="module")
def tokens():
    return planted()


@pytest.fixture(scope="module")
def trained(tokens, tmp_path_factory):
    x, _ = tokens
    out = {}
    for arch, seed in (("topk", 0), ("topk", 1), ("batchtopk", 0)):
        config = SAEConfig(d_in=D_IN, width=TRUE_FEATURES, arch=arch, k=TRUE_K, dead_tokens=2000)
        directory = tmp_path_factory.mktemp(f"{arch}{seed}") / "sae"
        out[arch, seed] = (train_sae(x, directory, config, CONFIG.model_copy(update={"seed": seed})), directory)
    return out


@pytest.mark.parametrize("arch", ["topk", "batchtopk"])
def test_planted_dictionary_is_recovered(arch, tokens, trained):
    x, dictionary = tokens
    sae, _ = trained[arch, 0]
    cosine = max_cosine(dictionary, sae)
    assert cosine.mean() > 0.9 and (cosine > 0.8).float().mean() > 0.85, cosine
    metrics = measure(sae, x[:2000])
    assert metrics["fvu"] < 0.25
    assert abs(metrics["l0"] - TRUE_K) < 0.5


def test_decoder_rows_have_unit_norm(trained):
    for sae, _ in trained.values():
        assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(TRUE_FEATURES), atol=1e-5)


def test_two_seeds_are_stable_under_hungarian_matching(trained):
    result = sae_analysis.stability(trained["topk", 0][0], trained["topk", 1][0])
    assert result["mean_matched_cosine"] > 0.85 and result["fraction_above"] > 0.7, result


def hand_sae() -> SparseAutoencoder:
    """d = 2, three latents along x, y and the diagonal, top-1, no biases, hook units = normalised units."""
    sae = SparseAutoencoder(SAEConfig(d_in=2, width=3, k=1, dead_tokens=100)).eval()
    with torch.no_grad():
        decoder = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2 ** -0.5, 2 ** -0.5]])
        sae.W_dec.copy_(decoder)
        sae.W_enc.copy_(decoder.t())
        sae.b_enc.zero_()
        sae.b_dec.zero_()
        sae.input_scale.fill_(1.0)
        sae.tokens_since_fired.copy_(torch.tensor([0, 300, 99]))  # latent 1 is dead (>= 100 tokens), 2 is not
    return sae


def test_measure_by_hand():
    """Ten tokens: (2, 0) x5 -> latent 0, exact; (0, 3) -> latent 1, exact; (1, 1.2) x2 -> latent 2 at 2.2 / sqrt(2),
    reconstructed as (1.1, 1.1); (0, 0) x2 -> nothing fires. L0 = 8/10; latent 1 fires on exactly 10% of the tokens,
    which is not more than 10%: dense = 2/3; FVU = 2 x 0.02 / sum of squares about the tokens' mean."""
    rows = [[2.0, 0.0]] * 5 + [[0.0, 3.0]] + [[1.0, 1.2]] * 2 + [[0.0, 0.0]] * 2
    x = torch.tensor(rows)
    metrics = measure(hand_sae(), x, batch=3)  # batches of 3, 3, 3, 1
    array = np.array(rows)
    assert metrics["tokens"] == 10 and metrics["l0"] == pytest.approx(0.8)
    assert metrics["fvu"] == pytest.approx(2 * 0.02 / ((array - array.mean(0)) ** 2).sum(), rel=1e-5)
    assert metrics["dense_fraction"] == pytest.approx(2 / 3) and metrics["dead_fraction"] == pytest.approx(1 / 3)


def test_measure_matches_its_definitions_on_a_trained_sae(trained, tokens):
    sae, _ = trained["batchtopk", 0]
    x = tokens[0][:700] + 3.0  # far from 0 on average: the FVU's denominator is about the mean, not about 0
    with torch.no_grad():
        z = sae.eval().encode(x).numpy().astype(np.float64)
        reconstructed = sae.decode(torch.from_numpy(z).float()).numpy().astype(np.float64)
    data = x.numpy().astype(np.float64)
    metrics = measure(sae, x, batch=256)
    assert metrics["fvu"] == pytest.approx(((data - reconstructed) ** 2).sum() / ((data - data.mean(0)) ** 2).sum(),
                                           rel=1e-4)
    assert metrics["l0"] == pytest.approx((z > 0).sum(1).mean(), rel=1e-9)
    assert metrics["dense_fraction"] == pytest.approx(((z > 0).mean(0) > 0.1).mean())
    assert metrics["dead_fraction"] == pytest.approx(float(sae.dead_mask().float().mean()))


def test_stability_is_the_best_one_to_one_matching_by_brute_force():
    """Against every permutation of 6 latents; the second SAE's rows are the first's shuffled, some flipped, some
    noisy and rescaled (cosine ignores length)."""
    from itertools import permutations

    generator = torch.Generator().manual_seed(3)
    a = SparseAutoencoder(SAEConfig(d_in=4, width=6, k=1), generator)
    b = SparseAutoencoder(SAEConfig(d_in=4, width=6, k=1), generator)
    with torch.no_grad():
        shuffled = a.W_dec[[3, 0, 5, 1, 4, 2]] * torch.tensor([[1.0], [-1.0], [2.0], [1.0], [0.5], [1.0]])
        b.W_dec.copy_(shuffled + 0.4 * torch.randn(6, 4, generator=generator))
    unit_a = a.W_dec.detach().double().numpy()
    unit_b = b.W_dec.detach().double().numpy()
    unit_a /= np.linalg.norm(unit_a, axis=1, keepdims=True)
    unit_b /= np.linalg.norm(unit_b, axis=1, keepdims=True)
    cosine = unit_a @ unit_b.T
    best = max((cosine[np.arange(6), list(p)] for p in permutations(range(6))), key=lambda matched: matched.sum())
    result = sae_analysis.stability(a, b)
    assert result["latents"] == 6
    assert result["mean_matched_cosine"] == pytest.approx(best.mean(), abs=1e-9)
    assert result["median_matched_cosine"] == pytest.approx(np.median(best), abs=1e-9)
    assert result["fraction_above"] == pytest.approx((best >= 0.9).mean())
    assert 0 < result["fraction_above"] < 1 and best.min() < 0  # the flipped row matches with a negative cosine


def test_checkpoints_and_the_finished_sae_load_with_safetensors(trained, tokens):
    sae, directory = trained["topk", 0]
    checkpoints = sorted((directory / "checkpoints").glob("step_*[0-9].safetensors"))
    assert checkpoints and "W_dec" in load_file(str(checkpoints[-1]))
    state = load_file(str(directory / "sae.safetensors"))
    assert torch.equal(state["W_dec"], sae.W_dec.detach())
    reloaded = load_sae(directory)
    assert torch.equal(reloaded.encode(tokens[0][:50]), sae.eval().encode(tokens[0][:50]))


def test_interrupted_training_resumes_to_the_uninterrupted_weights(tokens, tmp_path):
    x, _ = tokens
    config = SAEConfig(d_in=D_IN, width=32, arch="topk", k=TRUE_K, dead_tokens=500)
    train = SAETrainConfig(steps=60, batch_tokens=128, learning_rate=4e-3, checkpoint_every=20)
    whole = train_sae(x, tmp_path / "whole", config, train)

    def interrupt(report):
        if report.step == 50:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_sae(x, tmp_path / "cut", config, train, on_step=interrupt)
    resumed = train_sae(x, tmp_path / "cut", config, train)
    for name, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_other_settings_in_the_same_directory_are_a_one_line_error(tokens, tmp_path):
    x, _ = tokens
    config = SAEConfig(d_in=D_IN, width=32, k=TRUE_K)
    train_sae(x, tmp_path / "sae", config, SAETrainConfig(steps=2, batch_tokens=64))
    with pytest.raises(InterpError, match="other settings \\(sae.width\\)"):
        train_sae(x, tmp_path / "sae", SAEConfig(d_in=D_IN, width=48, k=TRUE_K),
                  SAETrainConfig(steps=2, batch_tokens=64))


def test_an_sae_manifest_from_before_the_config_convention_resumes_and_refuses_other_settings(tokens, tmp_path):
    x = tokens[0][:, :8]
    sae_config, train_config = SAEConfig(d_in=8, width=64, k=4), SAETrainConfig(steps=20, batch_tokens=256)
    out = tmp_path / "sae"
    train_sae(x, out, sae_config, train_config)
    manifest = json.loads((out / MANIFEST).read_text())
    # the configs as `SAEConfig.to_dict()` and `asdict(TrainConfig(...))` stored them before they became `Config`s
    manifest["sae"] = {"d_in": 8, "width": 64, "arch": "topk", "k": 4, "aux_k": 0, "aux_coefficient": 0.03125,
                       "dead_tokens": 200000, "bandwidth": 0.05, "initial_threshold": 0.1, "frequency_cost": 0.0}
    manifest["train"] = {"steps": 20, "batch_tokens": 256, "learning_rate": 0.001, "seed": 0, "checkpoint_every": 250}
    (out / MANIFEST).write_text(json.dumps(manifest))
    train_sae(x, out, sae_config, train_config)
    with pytest.raises(InterpError, match=r"other settings \(sae.k, train.learning_rate\)"):
        train_sae(x, out, sae_config.model_copy(update={"k": 3}),
                  train_config.model_copy(update={"learning_rate": 0.01}))


def test_sae_settings_that_do_not_validate_name_the_field():
    with pytest.raises(ConfigError, match=r"^invalid SAEConfig settings: k: must be at most width \(8\), got 9$"):
        validate_config(SAEConfig, {"d_in": 4, "width": 8, "k": 9})
    with pytest.raises(ConfigError) as error:
        validate_config(SAERunConfig, {"hook": "h", "arch": "conv", "width": 0, "frequency_cost": -1})
    assert all(field in str(error.value) for field in ("arch", "width", "frequency_cost"))
    with pytest.raises(ConfigError, match="steps.*batch_tokens.*learning_rate"):
        validate_config(SAETrainConfig, {"steps": 0, "batch_tokens": 0, "learning_rate": 0})


def test_cli_names_the_flags_of_bad_settings_and_takes_its_defaults_from_the_configs(frob_cli, cli_defaults, tmp_path):
    code, stderr = frob_cli("sae", "train", tmp_path, "--hook", "x", "--arch", "conv", "--width", "8", "--k", "9")
    (line,) = stderr.strip().splitlines()
    assert code == 2 and "--arch: " in line and "--k: must be at most width (8)" in line
    code, stderr = frob_cli("sae", "train", tmp_path, "--hook", "x", "--steps", "0")
    assert code == 2 and "--steps: " in stderr
    for config_class, command, fields in (
            (SAERunConfig, ("sae", "train"), {"arch", "width", "k", "frequency_cost", "max_tokens"}),
            (SAETrainConfig, ("sae", "train"), {"steps", "seed", "batch_tokens", "learning_rate", "checkpoint_every"})):
        defaults = cli_defaults(config_class, *command)
        assert set(defaults) == fields
        assert all(cli == config for cli, config in defaults.values()), defaults


def _dead_after(aux_coefficient: float, x: torch.Tensor) -> float:
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(d_in=D_IN, width=48, k=TRUE_K, dead_tokens=256, aux_coefficient=aux_coefficient),
                            torch.Generator().manual_seed(0))
    sae.initialise_from(x[:512])
    with torch.no_grad():
        sae.W_enc[:, :24] *= 0.05  # half the latents start too weak to ever reach the top k: dead
    optimizer = torch.optim.Adam(sae.parameters(), lr=1e-2)
    for step in range(100):
        training_step(sae, optimizer, x[(step * 128) % 4096:][:128], 1e-2)
    return float(sae.dead_mask().float().mean())


@pytest.mark.parametrize("arch", ["topk", "batchtopk"])
def test_training_on_selected_pairs_matches_the_dense_computation(arch, tokens):
    """Losses and gradients of the pair-only path (AuxK included) equal a dense autograd reference."""
    x = tokens[0][:256]
    config = SAEConfig(d_in=D_IN, width=32, arch=arch, k=TRUE_K, dead_tokens=100)
    sae = SparseAutoencoder(config, torch.Generator().manual_seed(0))
    sae.initialise_from(x)
    with torch.no_grad():
        sae.W_enc[:, :8] *= 0.01  # 8 weak latents that do not fire, and are dead: AuxK runs
    sae.tokens_since_fired[:8] = 1000
    sae.train()
    losses = sae.losses(x)
    dead = sae.dead_mask().clone()
    assert dead.sum() == 8
    losses["loss"].backward()
    sparse_grads = {name: p.grad.clone() for name, p in sae.named_parameters()}
    sae.zero_grad()
    x_n = sae.normalise(x)
    pre = torch.relu(torch.addmm(sae.b_enc, x_n - sae.b_dec, sae.W_enc))
    kept = sae._select(pre.detach())[1] if arch == "topk" else None
    z = (torch.zeros_like(pre).scatter(1, kept, pre.gather(1, kept)) if arch == "topk"
         else pre * (pre >= torch.topk(pre.detach().flatten(), TRUE_K * len(x)).values[-1]))
    residual = x_n - sae.decode_normalised(z)
    aux_kept = pre.detach().masked_fill(~dead, -1.0).topk(min(config.effective_aux_k, 8), dim=1).indices
    aux_pre = torch.relu(torch.addmm(sae.b_enc, (x_n - sae.b_dec).detach(), sae.W_enc))  # AuxK: no gradient to b_dec
    aux_hat = torch.zeros_like(pre).scatter(1, aux_kept, aux_pre.gather(1, aux_kept)) @ sae.W_dec
    dense = (residual.pow(2).sum(1).mean() + config.aux_coefficient * (residual.detach() - aux_hat).pow(2).sum(1).mean()) / D_IN
    torch.testing.assert_close(losses["loss"], dense)
    dense.backward()
    for name, p in sae.named_parameters():
        torch.testing.assert_close(sparse_grads[name], p.grad, msg=name)


def test_auxk_revives_dead_latents(tokens):
    x, _ = tokens
    without, with_aux = _dead_after(0.0, x), _dead_after(1 / 32, x)
    assert without >= 0.45
    assert with_aux < without - 0.2, (with_aux, without)


def test_jumprelu_learns_its_threshold_and_approaches_the_target_l0(tokens, tmp_path):
    x, _ = tokens
    config = SAEConfig(d_in=D_IN, width=32, arch="jumprelu", k=4, dead_tokens=200)
    sae = train_sae(x, tmp_path / "sae", config, SAETrainConfig(steps=150, batch_tokens=256, learning_rate=1e-2))
    assert (sae.log_threshold.exp() > 3 * config.initial_threshold).all()  # thresholds rose through the estimator
    metrics = measure(sae, x[:2000])
    assert 2 <= metrics["l0"] <= 6 and metrics["fvu"] < 0.2, metrics


def test_frequency_cost_is_cheaper_for_frequent_latents():
    sae = SparseAutoencoder(SAEConfig(d_in=16, width=4, frequency_cost=1.0))
    sae.firing_frequency.copy_(torch.tensor([1.0, 1 / 16, 1 / 256, 1e-9]))
    assert torch.allclose(sae._frequency_weights(), torch.tensor([0.0, 1.0, 2.0, 2.0]), atol=1e-6)


def test_absorption_pattern_is_flagged_and_confirmed_by_the_hierarchy():
    """Latent 0 = shape 'sphere' (parent), latent 1 = object 3, a sphere, which absorbed the parent: its decoder is
    parent + child, the parent's encoder is inhibited along the child, and the two never fire together."""
    parent, child, other = torch.eye(8)[:3]
    sae = SparseAutoencoder(SAEConfig(d_in=8, width=3, k=1))
    with torch.no_grad():
        absorbed = (parent + child) / np.sqrt(2)
        sae.W_dec.copy_(torch.stack([parent, absorbed, other]))
        sae.W_enc.copy_(torch.stack([parent - child, child, other]).t())
    shape = np.array([1] * 40 + [1] * 20 + [2] * 40)  # sphere tokens: 40 of other spheres, 20 of object 3
    obj = np.array([1] * 40 + [3] * 20 + [5] * 40)
    codes = np.zeros((100, 3), dtype=np.float32)
    codes[:40, 0] = 1.0  # the parent fires on spheres except object 3
    codes[40:60, 1] = 1.0  # the child fires on object 3 alone
    codes[60:, 2] = 1.0
    pairs = sae_analysis.absorption_candidates(sae, codes, {"object_id": obj, "shape_id": shape})
    assert [(p["parent"], p["child"]) for p in pairs] == [(0, 1)]
    assert pairs[0]["confirmed_by"] == "shape_id=1"


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path):
    for arguments in (["sae", "train", str(tmp_path), "--hook", "x"], ["sae", "compare", str(tmp_path), str(tmp_path)],
                      ["features", "label", str(tmp_path), "--hook", "x"]):
        result = subprocess.run([sys.executable, "-m", "frobnoscope.app.cli.main", *arguments], capture_output=True, text=True)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
