"""frobnoscope.models.loading."""
