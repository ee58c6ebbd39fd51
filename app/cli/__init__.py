"""The `frob` command line, one module per area (scenes, models, nerf, interp, sae, attribute); `main` runs it."""
