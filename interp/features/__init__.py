"""Features (raw channels and SAE latents) labelled against ground truth, their causal effects, and frobnoloids."""
