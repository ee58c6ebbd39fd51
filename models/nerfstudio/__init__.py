"""nerfstudio's nerfacto on our data (optional extra `frobnoscope[nerfstudio]`, in its own environment).

    compat       lets nerfstudio import torchvision where torchvision's compiled ops cannot load (CPU torch)
    method       the `frob-nerfacto` method, registered through nerfstudio's `nerfstudio.method_configs` entry point
    train        `python -m frobnoscope.models.nerfstudio.train ...`: ns-train with `compat` applied first
    adapter      a trained nerfstudio model (any `config.yml`, through `eval_setup`) behind the adapter protocol,
                 in the scene's frame
Nothing here is imported by the rest of frobnoscope; nerfstudio is imported lazily.
"""
