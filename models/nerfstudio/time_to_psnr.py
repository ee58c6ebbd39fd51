"""`python -m frobnoscope.models.nerfstudio.time_to_psnr EXPORT --out RESULT.json [options] [ns-train options]`:
train `frob-nerfacto` on a frobnoscope nerfstudio export until its held-out PSNR reaches a target, measured as
`frob train nerf` measures ours, for `bench/bench_nerf.py`.

Every `--eval-every` steps the model renders the source dataset's val views (the ground truth's own rays, through
`NerfstudioAdapter.render_rays`, so in linear RGB) and the PSNR of all their pixels together is taken against
their linear `rgb`, exactly `models.nerf.train.heldout_psnr`. Training stops at the first evaluation at or above
`--target` dB, or once `--budget` seconds have passed. Seconds count from the trainer's setup (data loading and
model construction; not Python's imports) and include the evaluations, as for our MLP. nerfstudio's own training
loop runs unchanged (its callbacks, e.g. the proposal samplers' annealing, included); the evaluation is one more
callback. Options after ours are ns-train's, applied to `frob-nerfacto`'s configuration
(`--pipeline.model.num-nerf-samples-per-ray 32`, ...). RESULT.json: target, reached, step, heldout_psnr, seconds,
history, config (the changed settings); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from frobnoscope.engine.runs import write_json_atomic
from frobnoscope.models.errors import ModelError
from frobnoscope.models.metrics import mse_to_psnr
from frobnoscope.models.nerfstudio.compat import ensure_torchvision_importable


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="a `frob export --format nerfstudio` directory of an orbit dataset")
    parser.add_argument("--out", type=Path, required=True, help="where to write the result (JSON)")
    parser.add_argument("--target", type=float, default=25.0, help="held-out PSNR to reach, dB (default 25)")
    parser.add_argument("--budget", type=float, default=600.0, help="stop after this many seconds (default 600)")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between held-out evaluations")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args, ns_options = parser.parse_known_args(argv)
    ensure_torchvision_importable()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="frob-nerfacto-") as output_dir:
        config = trainer_config(args.export, Path(output_dir), ns_options)
        result = train_to_target(config, args.target, args.budget, args.eval_every)
    write_json_atomic(args.out, {**result, "config": ns_options})


def trainer_config(export: Path, output_dir: Path, ns_options: list[str]):
    """`frob-nerfacto`'s configuration with ns-train's options applied, reading `export`, writing `output_dir`."""
    import tyro
    from nerfstudio.engine.trainer import TrainerConfig

    from frobnoscope.models.nerfstudio.method import frob_nerfacto_config

    config = tyro.cli(TrainerConfig, default=frob_nerfacto_config(), args=ns_options)
    config.pipeline.datamanager.data = export
    config.output_dir = output_dir
    config.logging.local_writer.enable = False  # its table goes to stdout every few steps
    config.max_num_iterations = 1_000_000  # the target or the budget stops training
    config.set_timestamp()
    return config


class Stop(Exception):
    """Raised by the evaluation callback once the target is reached or the budget spent."""


def train_to_target(config, target: float, budget: float, eval_every: int) -> dict:
    """Train until the first evaluation at or above `target` dB held out, or `budget` seconds; the result."""
    from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackLocation

    from frobnoscope.models.nerf.data import load_orbit
    from frobnoscope.models.nerfstudio.adapter import NerfstudioAdapter, source_dataset_path

    started = time.perf_counter()
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    outputs = trainer.pipeline.datamanager.train_dataparser_outputs
    source = source_dataset_path(Path(config.pipeline.datamanager.data))
    if source is None:
        raise ModelError(f"{config.pipeline.datamanager.data} is not a frobnoscope export whose dataset is still "
                         "there; export an orbit dataset with `frob export DATA --format nerfstudio --channels rgb`")
    data = load_orbit(source)
    adapter = NerfstudioAdapter(trainer.pipeline, outputs.dataparser_transform.numpy(), outputs.dataparser_scale,
                                data.scene, data.store, name="nerfstudio:training")
    frames = data.splits["val"] or data.splits["test"]
    origins, directions = (rays.reshape(-1, 3) for rays in data.rays(frames))
    truth = data.rgb[frames].reshape(-1, 3).double()
    history: list[dict] = []

    def evaluate(step: int) -> None:
        trainer.pipeline.eval()
        rendered = adapter.render_rays(origins, directions, keys=("rgb",))["rgb"].double()
        trainer.pipeline.train()
        psnr = float(mse_to_psnr((rendered - truth).pow(2).mean()))
        history.append({"step": step + 1, "heldout_psnr": psnr, "seconds": time.perf_counter() - started})
        print(json.dumps(history[-1]), file=sys.stderr, flush=True)
        if psnr >= target or history[-1]["seconds"] > budget:
            raise Stop

    # nerfstudio's step k is the (k + 1)-th update: evaluate after updates eval_every, 2 eval_every, ...
    trainer.callbacks.append(TrainingCallback([TrainingCallbackLocation.AFTER_TRAIN_ITERATION],
                                              lambda step: (step + 1) % eval_every == 0 and evaluate(step)))
    try:
        trainer.train()
    except Stop:
        pass
    last = history[-1] if history else {"step": 0, "heldout_psnr": float("nan"), "seconds": float("nan")}
    return {"target": target, "reached": last["heldout_psnr"] >= target, **last, "history": history}


if __name__ == "__main__":
    main()
