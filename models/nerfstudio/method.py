"""`frob-nerfacto`: nerfstudio's nerfacto set up for CPU training on frobnoscope exports, registered through
nerfstudio's plugin entry point (`[project.entry-points."nerfstudio.method_configs"]` in pyproject.toml).

What differs from `ns-train nerfacto`, and why:
- LPIPS is left out when its AlexNet weights are absent: nerfacto builds torchmetrics' LPIPS metric in
  `populate_modules`, and that downloads torchvision's AlexNet weights (`alexnet-owt-7be5be79.pth` into
  torch.hub's checkpoints folder); offline that kills training before step 0. Without the file the metric is a
  stand-in that reports NaN; with it, LPIPS is computed as usual.
- The torch implementation of the hash grid and MLPs (`implementation="torch"`: tiny-cuda-nn needs CUDA), the CPU
  (`machine.device_type="cpu"`), no mixed precision, 1,024 rays per batch, the tensorboard writer (the viewer
  would open a web server), and evaluation images rarely (they cost a full render on the CPU).
- No camera optimisation: the exported poses are exact.
- A black background: the orbit family's background colour (nerfacto's default reuses each ray's last sample).
- The dataparser keeps our frame but shrinks it by `SCALE_FACTOR` (no re-orienting, no re-centring): nerfacto's
  hash grid covers [-1, 1]^3 before its scene contraction, and the orbit scene spans about [-4, 4] x [0, 1.2] x
  [-4, 4] (the ground plane). Points map back with `scenes.export.nerfstudio.scene_points_from_nerfstudio`.
Every setting can still be changed on the ns-train command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from unittest import mock

import torch
from torch import nn

from frobnoscope.models.nerfstudio.compat import ensure_torchvision_importable

ensure_torchvision_importable()

from nerfstudio.cameras.camera_optimizers import CameraOptimizerConfig  # noqa: E402
from nerfstudio.configs.base_config import MachineConfig, ViewerConfig  # noqa: E402
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManagerConfig  # noqa: E402
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig  # noqa: E402
from nerfstudio.engine.optimizers import AdamOptimizerConfig  # noqa: E402
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig  # noqa: E402
from nerfstudio.engine.trainer import TrainerConfig  # noqa: E402
from nerfstudio.models.nerfacto import NerfactoModel, NerfactoModelConfig  # noqa: E402
from nerfstudio.pipelines.base_pipeline import VanillaPipelineConfig  # noqa: E402
from nerfstudio.plugins.types import MethodSpecification  # noqa: E402

METHOD_NAME = "frob-nerfacto"
SCALE_FACTOR = 0.2
ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet_Weights.IMAGENET1K_V1, what LPIPS loads


def alexnet_weights_present() -> bool:
    return os.path.isfile(os.path.join(torch.hub.get_dir(), "checkpoints", ALEXNET_WEIGHTS))


class MissingLPIPS(nn.Module):
    """Stands in for torchmetrics' LPIPS when its weights cannot be had: every score is NaN."""

    def forward(self, *images: torch.Tensor) -> torch.Tensor:
        return torch.tensor(float("nan"))


class FrobNerfactoModel(NerfactoModel):
    """nerfacto, but its LPIPS metric is `MissingLPIPS` when AlexNet's weights are absent (no download)."""

    def populate_modules(self):
        if alexnet_weights_present():
            return super().populate_modules()
        import torchmetrics.image.lpip as lpip

        with mock.patch.object(lpip, "LearnedPerceptualImagePatchSimilarity", lambda **_: MissingLPIPS()):
            return super().populate_modules()


@dataclass
class FrobNerfactoModelConfig(NerfactoModelConfig):
    _target: type = field(default_factory=lambda: FrobNerfactoModel)


def frob_nerfacto_config() -> TrainerConfig:
    adam = AdamOptimizerConfig(lr=1e-2, eps=1e-15)
    decay = ExponentialDecaySchedulerConfig(lr_final=1e-4, max_steps=200000)
    return TrainerConfig(
        method_name=METHOD_NAME,
        steps_per_eval_batch=100,
        steps_per_eval_image=100000,
        steps_per_eval_all_images=100000,
        steps_per_save=500,
        max_num_iterations=3000,
        mixed_precision=False,
        machine=MachineConfig(device_type="cpu"),
        pipeline=VanillaPipelineConfig(
            datamanager=VanillaDataManagerConfig(
                dataparser=NerfstudioDataParserConfig(orientation_method="none", center_method="none",
                                                      auto_scale_poses=False, scale_factor=SCALE_FACTOR),
                train_num_rays_per_batch=1024,
                eval_num_rays_per_batch=1024,
            ),
            model=FrobNerfactoModelConfig(
                eval_num_rays_per_chunk=1 << 12,
                average_init_density=0.01,
                implementation="torch",
                background_color="black",
                camera_optimizer=CameraOptimizerConfig(mode="off"),
            ),
        ),
        optimizers={
            "proposal_networks": {"optimizer": adam, "scheduler": decay},
            "fields": {"optimizer": adam, "scheduler": decay},
            "camera_opt": {"optimizer": AdamOptimizerConfig(lr=1e-3, eps=1e-15),
                           "scheduler": ExponentialDecaySchedulerConfig(lr_final=1e-4, max_steps=5000)},
        },
        viewer=ViewerConfig(num_rays_per_chunk=1 << 12),
        vis="tensorboard",
    )


frob_nerfacto = MethodSpecification(
    config=frob_nerfacto_config(),
    description="nerfacto on the CPU (torch implementation) for frobnoscope exports; LPIPS only with AlexNet's weights",
)
