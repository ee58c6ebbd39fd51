"""One script per page of the app, each with `show(workspace)` (see `app.web.main`)."""
