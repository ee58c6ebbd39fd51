"""Field models: coordinate MLPs fitted directly to a scene's 3D ground truth (signed distance, albedo, object id)
at sampled points, with no rendering in between: the truth is known, and optimal, at every input.

    config.FieldTrainConfig      architecture (hash grid or sinusoids), sampling, loss weights, schedule
    sampling.sample_points       points near the surfaces (stratified by object) and uniform in the box
    sampling.scene_truth         the scene's answer at points (exactly `Scene.query`)
    model.FieldModel             point -> sdf, albedo, object logits; `field_loss`
    train.train_field            fit (`frob train field`); checkpoints, resume, held-out errors
    run                          the run directory (format frobnoscope.field/1), loading, prediction
    adapter.load_field           a trained run behind the adapter protocol (hook points, capture, intervene)
"""
