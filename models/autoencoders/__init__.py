"""Image autoencoders behind the adapter protocol: the TAESD family, Stable Diffusion VAEs, our conv and kl-small
(and their training, `frob train ae`)."""
