"""What every stage shares: errors, run directories and `open_run`, the config convention, block executors
(in-process, local pool, Ray), the journal, checkpoints and tensor files, CSV tables."""
