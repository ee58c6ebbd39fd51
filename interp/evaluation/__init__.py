"""Models against their optimal outputs: image autoencoders (`frob eval`) and NeRFs in images and in 3D
(`frob eval-nerf`), with the error by ground-truth factor."""
