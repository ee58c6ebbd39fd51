"""Our coordinate MLP (NeRF): hash-grid or sinusoidal encoding, density and view-dependent colour heads,
stratified + importance sampling, volume rendering, training (`frob train nerf`) and its adapter.

    field.NerfField          world point (+ ray direction) -> density, linear RGB
    model.NerfModel          field + sampling + compositing over the background: rays in, pixels out
    train.train_nerf         fit to an orbit dataset; checkpoints, resume, held-out PSNR
    adapter.load_nerf        a trained run behind the adapter protocol (hook points, capture, intervene)
"""
