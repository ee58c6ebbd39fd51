"""CPU against an accelerator (issue 20): five figures of the model jobs, each measured on the CPU and on `--device`
in the same run, with the ratio device / CPU, the device's name (`torch.cuda.get_device_name`) and torch's version.

  1. TAEF2 capture, images/s: the `capture` job (`interp.activations.capture.capture`, in this process) of TAEF2
     (its real weights: $FROB_WEIGHTS_DIR or ../shared/weights) on generated tabletop frames at 128x128, hook points
     `--hooks` (default: the block outputs `encoder.?,encoder.??,decoder.?,decoder.??`, 35 of the 227; `*` takes
     them all, about 75 MB a frame on disk), float16, `--batch` (8) frames per pass (`--device-batch` on the device).
  2. SD-VAE-sized capture, images/s: the same job on an `AutoencoderKL` with Stable Diffusion's VAE configuration
     (128-256-512-512 channels, 2 layers per block, 4 latent channels: 83.7M parameters) and random weights (speed
     does not depend on them), saved with `save_pretrained` and loaded as `sd-vae:DIR`; hooks `decoder.*`, less the
     six whose outputs are not (B, C, h, w) (the mid-block attention's projections), which `capture` refuses: 130
     hook points, about 320 MB a frame on disk at 128x128; `--sd-batch` (2) frames per pass
     (`--sd-device-batch` on the device).
  3. SAE training: tokens/s of `interp.sae.training.training_step` (median of the timed steps after 3 warm-up
     steps; tokens already on the device) for a TopK SAE with d = the channels of TAEF2's `decoder.12` (64),
     M = 4096, k = 32, 4096 tokens a step; and seconds to a held-out FVU of 0.025, both on real `decoder.12` tokens
     of figure 1's CPU capture (captured untimed when figure 1 is not run; the last eighth held out): Adam at
     1e-3 (20 warm-up steps), batches drawn on the CPU and moved to the device as `train_sae` does, `measure` every
     25 steps, seconds including the measurements; "not reached" after `--sae-budget` seconds.
     SAELens (the issue's reference) is not compared here: it needs `pip install sae-lens`; its row says "skipped"
     when the package is absent, and "not implemented" when present (the place for it: `saelens_rate`).
  4. NeRF, seconds to 25 dB: `models.nerf.train.train_nerf` with its default config on a 40-view 64x64 orbit
     dataset (as bench/bench_nerf.py), stopped at the first val evaluation (every 100 steps) at or above 25 dB, or
     when an evaluation comes after `--nerf-budget` seconds; seconds from the call, evaluations included.
  5. Attribution, images/s: the `attribute` job (`interp.attribution.run.attribute`, one worker) of integrated
     gradients (32 steps) on TAEF2, target `error`, tabletop frames at 64x64, 2 frames per block.

Images/s of a job (1, 2, 5) are its steady rate: the frames after its first block over the time from the first
block's end to the last's, which leaves out what a job pays once (model load, `capture`'s creation of every hook's
zarr arrays: 12 s for the SD VAE's 130 hooks here); the whole job's rate, start-up included, is in the notes. On the
device, each job runs once on one frame first (CUDA and cuDNN start-up). The CPU side runs as the library runs it:
the capture and attribution jobs with one intra-op thread (their worker setting), NeRF with its config's 2
threads, the SAE with torch's default. Frames (full run): capture 32 (TAEF2) and 4 (SD VAE), attribution 8, each
times `--device-scale` (4) on the device; datasets come from
`frobnoscope.scenes.generate.generate` (seed 0) into a temporary directory, or into `--work DIR` to reuse them.
A time not reached within its limit shows as "-" with the limit in the notes, and the ratio as a bound (< or >).
On 2 shared cores the full CPU run takes about 10 minutes, most of it the NeRF (up to `--nerf-budget`, 240 s), the
SAE (up to `--sae-budget`, 90 s) and the SD-VAE capture. `--quick`: 64x64 capture (4 and 2 frames, batches of 2
and 1), a 512-latent SAE for 10 s, 16x16 NeRF views for 20 steps, 2 frames of 8-step integrated gradients at 32x32,
no warm-up runs: checks that it runs (75 s with `--work` datasets made, 4 minutes from scratch, on 2 busy cores).
When `--device` resolves to the CPU (`auto` without a GPU), the CPU alone is measured and the table says so. The
figures go to `--results` after each one, so a run cut short keeps what it measured.

    python bench/bench_device.py [--device auto|cpu|cuda[:N]|mps] [--quick] [--results FILE.json] [--work DIR]
        [--figures capture,sd-vae,sae,attribution,nerf] [--hooks GLOBS] [--batch 8] [--device-batch N]
        [--sd-batch 2] [--sd-device-batch N] [--device-scale 4] [--sae-budget 90] [--nerf-budget 240]
    python bench/bench_device.py --device cuda --results bench-device.json     # on a machine with a GPU
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from frobnoscope.engine.runs import MANIFEST, write_json_atomic
from frobnoscope.interp.activations.capture import CaptureConfig, capture, select_hooks
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.attribution.config import AttributeConfig
from frobnoscope.interp.attribution.methods import MethodSettings
from frobnoscope.interp.attribution.run import attribute
from frobnoscope.interp.sae.model import SAEConfig, SparseAutoencoder
from frobnoscope.interp.sae.training import TokenBatches, measure, training_step
from frobnoscope.models import load_model
from frobnoscope.models.device import resolve_device
from frobnoscope.models.nerf.train import NerfTrainConfig, train_nerf
from frobnoscope.scenes.generate import generate
from frobnoscope.scenes.store import DatasetStore

FIGURES = ("capture", "sd-vae", "sae", "attribution", "nerf")
BLOCK_HOOKS = "encoder.?,encoder.??,decoder.?,decoder.??"
SAE_HOOK, SAE_WIDTH, SAE_K, SAE_BATCH, SAE_LR, TARGET_FVU, MEASURE_EVERY = "decoder.12", 4096, 32, 4096, 1e-3, 0.025, 25
TARGET_DB = 25.0
ATTRIBUTION_BATCH = 2  # frames per block of the attribute job: 4 blocks of the CPU's 8 frames
# Stable Diffusion's VAE (runwayml/stable-diffusion-v1-5, vae/config.json): 83,653,863 parameters
SD_VAE_CONFIG = {"in_channels": 3, "out_channels": 3, "down_block_types": ("DownEncoderBlock2D",) * 4,
                 "up_block_types": ("UpDecoderBlock2D",) * 4, "block_out_channels": (128, 256, 512, 512),
                 "layers_per_block": 2, "act_fn": "silu", "latent_channels": 4, "norm_num_groups": 32,
                 "sample_size": 512, "scaling_factor": 0.18215}
console = Console(width=140)


class Sizes:
    """Frame counts, resolutions and steps of a run (`--quick` or full)."""

    def __init__(self, quick: bool):
        self.capture_res, self.capture_frames, self.sd_frames = (64, 4, 2) if quick else (128, 32, 4)
        self.attribution_res, self.attribution_frames, self.ig_steps = (32, 2, 8) if quick else (64, 8, 32)
        self.nerf_res, self.nerf_views = (16, 10) if quick else (64, 40)
        self.nerf_config = NerfTrainConfig(steps=20, eval_every=10) if quick else NerfTrainConfig()
        self.sae_width, self.sae_batch = (512, 1024) if quick else (SAE_WIDTH, SAE_BATCH)
        self.sae_steps = 5 if quick else 20


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def dataset(work: Path, family: str, n: int, res: int) -> Path:
    """A generated dataset of `n` frames at `res` px under `work` (reused when already complete)."""
    out = work / f"{family}-{res}-{n}"
    if not ((out / MANIFEST).is_file() and DatasetStore.open(out).complete):
        shutil.rmtree(out, ignore_errors=True)
        generate(family, n=n, seed=0, out=out, settings={"res": str(res)})
    return out


def sd_vae_dir(work: Path) -> Path:
    """An SD-VAE-configured AutoencoderKL with random weights (seed 0), saved as diffusers saves one."""
    out = work / "sd-vae-random"
    if not (out / "config.json").is_file():
        from diffusers import AutoencoderKL

        torch.manual_seed(0)
        AutoencoderKL(**SD_VAE_CONFIG).save_pretrained(out)
    return out


def timed_job(run, out: Path, frames: int, warm_up: bool, keep: bool = False) -> tuple[float, float]:
    """(steady, whole) images/s of the job `run(out, frames, on_progress)`, after a one-frame warm-up run of it on
    the same device: steady counts the frames after the first block over the time from the first block's end to
    the last's (the whole job's rate when there is one block); whole counts every frame over the whole call."""
    shutil.rmtree(out, ignore_errors=True)
    if warm_up:
        run(out.with_name(out.name + "-warmup"), 1, None)
        shutil.rmtree(out.with_name(out.name + "-warmup"), ignore_errors=True)
    ends = []  # (seconds, frames done) after each block
    start = time.perf_counter()
    run(out, frames, lambda done, total: ends.append((time.perf_counter(), done)) if done else None)
    whole = frames / (time.perf_counter() - start)
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    if len(ends) < 2:
        return whole, whole
    (first_end, first_done), (last_end, last_done) = ends[0], ends[-1]
    return (last_done - first_done) / (last_end - first_end), whole


def image_hooks(spec: str, pattern: str) -> list[str]:
    """The hook points matching `pattern` whose output is an image-like (B, C, h, w) tensor, which `capture` needs
    (SD's mid-block attention has six (B, tokens, C) call sites)."""
    adapter = load_model(spec)
    names = select_hooks(adapter.hook_points(), pattern)
    size = 2 * adapter.downsampling_factor
    with torch.no_grad():
        captured = adapter.capture(torch.rand(1, 3, size, size), names)
    return [name for name in names if captured[name].ndim == 4]


def capture_rate(data: Path, out: Path, spec: str, hooks: str, batch: int, frames: int, device, warm_up: bool,
                 keep: bool = False) -> tuple[float, float]:
    def run(where: Path, n: int, on_progress) -> None:
        capture(data, where, CaptureConfig(model=spec, hooks=hooks, batch_size=batch, frames=n), on_progress,
                device=device)

    return timed_job(run, out, frames, warm_up, keep)


def attribution_rate(data: Path, out: Path, frames: int, steps: int, device, warm_up: bool) -> tuple[float, float]:
    def run(where: Path, n: int, on_progress) -> None:
        config = AttributeConfig(model="taef2", target="error", methods=("integrated_gradients",), frames=n,
                                 batch_size=ATTRIBUTION_BATCH, settings=MethodSettings(n_steps=steps))
        attribute(data, where, config, on_progress=on_progress, device=device)

    return timed_job(run, out, frames, warm_up)


def sae_tokens(data: Path, capture_run: Path, frames: int) -> torch.Tensor:
    """(N, d) float32 tokens of TAEF2's decoder.12 from `capture_run` (captured there now, untimed, if absent)."""
    if not (capture_run / MANIFEST).is_file() or SAE_HOOK not in ActivationStore.open(capture_run).hooks():
        shutil.rmtree(capture_run, ignore_errors=True)
        capture(data, capture_run, CaptureConfig(model="taef2", hooks=SAE_HOOK, frames=frames), device="cpu")
    return torch.from_numpy(np.concatenate([acts for acts, _ in ActivationStore.open(capture_run).tokens(SAE_HOOK)]))


def new_sae(d: int, width: int, device) -> SparseAutoencoder:
    torch.manual_seed(0)
    return SparseAutoencoder(SAEConfig(d_in=d, width=width, arch="topk", k=SAE_K),
                             torch.Generator().manual_seed(0)).to(device)


def sae_step_rate(tokens: torch.Tensor, width: int, batch: int, steps: int, device) -> float:
    """Tokens/s of `training_step` (median of `steps` timed steps after 3 warm-up steps), tokens on the device."""
    sae = new_sae(tokens.shape[1], width, device)
    on_device = tokens[:batch * 4].to(device)
    sae.initialise_from(on_device[:batch])
    sae.train()
    optimizer = torch.optim.Adam(sae.parameters(), lr=SAE_LR)
    times = []
    for step in range(steps + 3):
        x = on_device[(step % 4) * batch:][:batch]
        synchronise(device)
        start = time.perf_counter()
        training_step(sae, optimizer, x, SAE_LR)
        synchronise(device)
        times.append(time.perf_counter() - start)
    timed = sorted(times[3:])
    return len(x) / timed[len(timed) // 2]


def sae_time_to_fvu(train: torch.Tensor, heldout: torch.Tensor, width: int, batch: int, budget: float, device) -> dict:
    """Seconds of training (measurements included) until the held-out FVU is at most TARGET_FVU, or `budget`."""
    sae = new_sae(train.shape[1], width, device)
    draw = TokenBatches(train, batch, seed=0)
    sae.initialise_from(draw(0).to(device))
    optimizer = torch.optim.Adam(sae.parameters(), lr=SAE_LR)
    synchronise(device)
    start, step, fvu = time.perf_counter(), 0, float("nan")
    while True:
        sae.train()
        training_step(sae, optimizer, draw(step).to(device), SAE_LR * min(1.0, (step + 1) / 20))
        step += 1
        if step % MEASURE_EVERY == 0:
            fvu = measure(sae, heldout)["fvu"]
            seconds = time.perf_counter() - start
            if fvu <= TARGET_FVU or seconds > budget:
                return {"seconds": seconds, "reached": fvu <= TARGET_FVU, "step": step, "fvu": fvu}


def saelens_rate(tokens: torch.Tensor, device) -> tuple[float | None, str]:
    """SAELens's training tokens/s on the same tokens: the place for the issue's reference comparison."""
    if importlib.util.find_spec("sae_lens") is None:
        return None, "skipped: sae-lens not installed (pip install sae-lens)"
    return None, "skipped: sae-lens installed, comparison not implemented in this script"


class StopTraining(Exception):
    pass


def nerf_time_to_target(data: Path, out: Path, config: NerfTrainConfig, budget: float, device) -> dict:
    """Seconds from the `train_nerf` call to the first val evaluation at or above TARGET_DB (or `budget`)."""
    shutil.rmtree(out, ignore_errors=True)
    last = {"step": 0, "heldout_psnr": float("nan"), "seconds": float("nan"), "reached": False}
    start = time.perf_counter()

    def on_step(report) -> None:
        if report.heldout_psnr is not None:
            last.update(step=report.step, heldout_psnr=report.heldout_psnr, seconds=time.perf_counter() - start)
            last["reached"] = report.heldout_psnr >= TARGET_DB
            if last["reached"] or last["seconds"] > budget:
                raise StopTraining

    try:
        train_nerf(data, out, config, on_step=on_step, device=device)
    except StopTraining:
        pass
    shutil.rmtree(out, ignore_errors=True)
    return last


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device}, CUDA {torch.version.cuda})"
    if device.type == "mps":
        return "Apple GPU (mps)"
    return f"{platform.processor() or platform.machine()} (cpu)"


class Recorder:
    """Figures as {name: {unit, better, cpu, device, notes}}, written to `--results` after every figure."""

    def __init__(self, path: Path | None, header: dict):
        self.path, self.results, self.started = path, {**header, "figures": {}}, time.perf_counter()

    def add(self, name: str, unit: str, better: str, side: str, value: float | None, note: str = "",
            limit: float | None = None) -> None:
        """`limit`: for a figure not reached (`value` None), the seconds it was given."""
        console.print(f"  {side}: {name}: {'-' if value is None else f'{value:,.4g}'} {unit} {note} "
                      f"[{time.perf_counter() - self.started:.0f} s since start]")
        figure = self.results["figures"].setdefault(name, {"unit": unit, "better": better, "cpu": None,
                                                           "device": None, "notes": {}})
        figure[side] = value
        if value is None and limit is not None:
            figure.setdefault("limits", {})[side] = limit
        if note:
            figure["notes"][side] = note
        if self.path:
            write_json_atomic(self.path, self.results)


def run_figures(args, sizes: Sizes, work: Path, sides: dict, record: Recorder) -> None:
    figures = args.figures.split(",")
    scale = {"cpu": 1, "device": args.device_scale}
    batch = {"cpu": args.batch, "device": args.device_batch or args.batch}
    sd_batch = {"cpu": args.sd_batch, "device": args.sd_device_batch or args.sd_batch}
    warm_up = {"cpu": False, "device": not args.quick}  # CUDA and cuDNN start-up before the device's timed job
    tabletop_n = max(sizes.capture_frames, sizes.sd_frames) * (args.device_scale if "device" in sides else 1)
    taef2_run = work / "runs" / "capture-taef2-cpu"
    if "capture" in figures:
        data, hooks = dataset(work, "tabletop", tabletop_n, sizes.capture_res), image_hooks("taef2", args.hooks)
        shown = f"the {len(hooks)} block outputs" if args.hooks == BLOCK_HOOKS else f"{args.hooks} ({len(hooks)})"
        for side, device in sides.items():
            console.print(f"capture: TAEF2 on {device}, hooks {args.hooks} ...")
            out = taef2_run if side == "cpu" else work / "runs" / f"capture-taef2-{side}"
            frames = sizes.capture_frames * scale[side]
            rate, whole = capture_rate(data, out, "taef2", ",".join(hooks), batch[side], frames, device,
                                       warm_up[side], keep=side == "cpu")
            record.add(f"TAEF2 capture, {sizes.capture_res}x{sizes.capture_res}, hooks: {shown}", "images/s",
                       "higher", side, rate, f"{frames} frames, batch {batch[side]}; whole job {whole:.3g}/s")
    if "sd-vae" in figures:
        data, spec = dataset(work, "tabletop", tabletop_n, sizes.capture_res), f"sd-vae:{sd_vae_dir(work)}"
        hooks = image_hooks(spec, "decoder.*")
        for side, device in sides.items():
            console.print(f"capture: SD-VAE-sized AutoencoderKL on {device}, the {len(hooks)} image-like hooks of "
                          "decoder.* ...")
            frames = sizes.sd_frames * scale[side]
            rate, whole = capture_rate(data, work / "runs" / f"capture-sd-{side}", spec, ",".join(hooks),
                                       sd_batch[side], frames, device, warm_up[side])
            record.add(f"SD-VAE-sized capture (83.7M, random weights), {sizes.capture_res}x{sizes.capture_res}, "
                       f"hooks: decoder.* ({len(hooks)} image-like)", "images/s", "higher", side, rate,
                       f"{frames} frames, batch {sd_batch[side]}; whole job {whole:.3g}/s")
    if "sae" in figures:
        data = dataset(work, "tabletop", tabletop_n, sizes.capture_res)
        tokens = sae_tokens(data, taef2_run, sizes.capture_frames)
        source = f"TAEF2 {SAE_HOOK} tokens ({len(tokens):,} from {sizes.capture_frames} frames)"
        d, held = tokens.shape[1], len(tokens) // 8
        for side, device in sides.items():
            console.print(f"SAE: d {d}, M {sizes.sae_width}, k {SAE_K}, batch {sizes.sae_batch} on {device} ...")
            record.add(f"SAE training_step (topk, d {d}, M {sizes.sae_width}, k {SAE_K}, batch {sizes.sae_batch})",
                       "tokens/s", "higher", side, sae_step_rate(tokens, sizes.sae_width, sizes.sae_batch,
                                                                  sizes.sae_steps, device), source)
            budget = 10.0 if args.quick else args.sae_budget
            reached = sae_time_to_fvu(tokens[:-held], tokens[-held:], sizes.sae_width, sizes.sae_batch, budget,
                                      device)
            note = (f"step {reached['step']}, FVU {reached['fvu']:.4f}" if reached["reached"] else
                    f"not reached in {budget:.0f} s (FVU {reached['fvu']:.4f} at step {reached['step']})")
            record.add(f"SAE seconds to held-out FVU {TARGET_FVU} ({held:,} held-out tokens)", "s", "lower", side,
                       reached["seconds"] if reached["reached"] else None, note, limit=budget)
            rate, note = saelens_rate(tokens, device)
            record.add("SAELens training tokens/s (same SAE)", "tokens/s", "higher", side, rate, note)
    if "attribution" in figures:
        data = dataset(work, "tabletop", sizes.attribution_frames * max(scale[s] for s in sides),
                       sizes.attribution_res)
        for side, device in sides.items():
            console.print(f"attribution: integrated gradients on TAEF2 on {device} ...")
            frames = sizes.attribution_frames * scale[side]
            rate, whole = attribution_rate(data, work / "runs" / f"attribute-{side}", frames, sizes.ig_steps,
                                           device, warm_up[side])
            record.add(f"attribute: integrated gradients ({sizes.ig_steps} steps), TAEF2, target error, "
                       f"{sizes.attribution_res}x{sizes.attribution_res}", "images/s", "higher", side, rate,
                       f"{frames} frames, batch {ATTRIBUTION_BATCH}; whole job {whole:.3g}/s")
    if "nerf" in figures:
        data = dataset(work, "orbit", sizes.nerf_views, sizes.nerf_res)
        budget = 0.0 if args.quick else args.nerf_budget
        for side, device in sides.items():
            console.print(f"NeRF: train_nerf defaults on {sizes.nerf_views} orbit views at {sizes.nerf_res}x"
                          f"{sizes.nerf_res} on {device}, until {TARGET_DB:g} dB or {budget:.0f} s ...")
            last = nerf_time_to_target(data, work / "runs" / f"nerf-{side}", sizes.nerf_config, budget, device)
            note = (f"step {last['step']}, {last['heldout_psnr']:.2f} dB" if last["reached"] else
                    f"not reached in {budget:.0f} s ({last['heldout_psnr']:.2f} dB at step {last['step']}, "
                    f"{last['seconds']:.0f} s)")
            record.add(f"NeRF seconds to {TARGET_DB:g} dB val PSNR ({sizes.nerf_views} orbit views, "
                       f"{sizes.nerf_res}x{sizes.nerf_res})", "s", "lower", side,
                       last["seconds"] if last["reached"] else None, note, limit=last["seconds"])


def print_table(results: dict, device_measured: bool) -> None:
    title = (f"CPU vs {results['device_name']}: torch {results['torch']}, {results['cpu_name']}, "
             f"{results['cpu_threads']} CPU threads by default, {results['date']}")
    table = Table(title=title, title_justify="left")
    for column in ("figure", "unit", "CPU", "device", "device / CPU", "notes"):
        table.add_column(column, justify="left" if column in ("figure", "unit", "notes") else "right")

    def shown(value: float | None, side: str) -> str:
        if side == "device" and not device_measured:
            return "-"
        return "-" if value is None else f"{value:,.3g}" if value < 100 else f"{value:,.0f}"

    for name, figure in results["figures"].items():
        cpu, device = figure["cpu"], figure["device"]
        ratio = f"{device / cpu:.2f}x" if cpu and device else "-"
        limits = figure.get("limits", {})
        if cpu is None and device and limits.get("cpu"):  # the CPU did not get there in its limit
            ratio = f"< {device / limits['cpu']:.2f}x"
        if device is None and cpu and limits.get("device"):
            ratio = f"> {limits['device'] / cpu:.2f}x"
        texts = figure["notes"]
        notes = (texts["cpu"] if len(texts) == 2 and len(set(texts.values())) == 1
                 else "; ".join(f"{side}: {text}" for side, text in texts.items()))
        table.add_row(name, f"{figure['unit']} ({figure['better']} is better)", shown(cpu, "cpu"),
                      shown(device, "device"), ratio, notes)
    console.print(table)
    if not device_measured:
        console.print(f"[yellow]--device {results['device_asked']} resolves to the CPU here: measured on the CPU "
                      "only (no device column)[/]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the benchmark runs")
    parser.add_argument("--results", type=Path, help="write the figures to this JSON file (after every figure)")
    parser.add_argument("--work", type=Path, help="directory for the datasets and runs (reused; default: a temp dir)")
    parser.add_argument("--figures", default=",".join(FIGURES), help=f"comma-separated subset of {','.join(FIGURES)}")
    parser.add_argument("--hooks", default=BLOCK_HOOKS, help=f"TAEF2 capture hooks (default {BLOCK_HOOKS}; * = all)")
    parser.add_argument("--batch", type=int, default=8, help="capture frames per pass on the CPU (8)")
    parser.add_argument("--device-batch", type=int, help="capture frames per pass on the device (default: --batch)")
    parser.add_argument("--sd-batch", type=int, default=2, help="SD-VAE capture frames per pass on the CPU (2)")
    parser.add_argument("--sd-device-batch", type=int, help="SD-VAE capture frames per pass on the device "
                                                            "(default: --sd-batch)")
    parser.add_argument("--device-scale", type=int, default=4, help="frames on the device per frame on the CPU (4)")
    parser.add_argument("--sae-budget", type=float, default=90.0, help="SAE time-to-FVU limit per device, s (90)")
    parser.add_argument("--nerf-budget", type=float, default=240.0, help="NeRF time-to-25-dB limit per device, s (240)")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.sd_batch = 2, 1  # two blocks or more, as in the full run
    unknown = set(args.figures.split(",")) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(sorted(unknown))}; choose from {', '.join(FIGURES)}")
    device = resolve_device(args.device)
    sides = {"cpu": torch.device("cpu")} | ({} if device.type == "cpu" else {"device": device})
    if device.type != "cpu":
        torch.zeros(1, device=device).sum().item()  # start the device's runtime before anything is timed
    header = {"date": time.strftime("%Y-%m-%d %H:%M"), "torch": torch.__version__, "device_asked": args.device,
              "device": str(device), "device_name": device_description(device) if "device" in sides else "no device",
              "cpu_name": platform.processor() or platform.machine(), "cpu_threads": torch.get_num_threads(),
              "quick": args.quick, "command": " ".join(["bench/bench_device.py", *sys.argv[1:]])}
    record = Recorder(args.results, header)
    console.print(f"torch {torch.__version__}; device: {header['device_name']}; "
                  f"{torch.get_num_threads()} CPU threads by default")
    with tempfile.TemporaryDirectory(prefix="bench-device-") as temp:
        work = args.work or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        run_figures(args, Sizes(args.quick), work, sides, record)
        shutil.rmtree(work / "runs", ignore_errors=True)
    print_table(record.results, "device" in sides)
    if args.quick:
        console.print("[yellow]--quick: tiny runs, the numbers are not meaningful[/]")


if __name__ == "__main__":
    main()
