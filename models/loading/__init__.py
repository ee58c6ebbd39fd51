"""Model specs (`taef2`, `sd-vae:PATH`, `run:DIR`, `nerf:DIR`, ...) to adapters, and the random-weights control."""
