"""`python -m frobnoscope.models.nerfstudio.train METHOD [ns-train options]`: nerfstudio's `ns-train`, with
`compat.ensure_torchvision_importable()` applied first (see `compat`). Every argument goes to ns-train as it is.

    python -m frobnoscope.models.nerfstudio.train frob-nerfacto --data EXPORT --output-dir OUT \\
        nerfstudio-data --orientation-method none --center-method none --auto-scale-poses False --scale-factor 0.2
"""

from __future__ import annotations

from frobnoscope.models.nerfstudio.compat import ensure_torchvision_importable


def main() -> None:
    ensure_torchvision_importable()
    from nerfstudio.scripts.train import entrypoint

    entrypoint()


if __name__ == "__main__":
    main()
