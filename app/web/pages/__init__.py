"""One module per page of the app, each with `show(workspace)`."""
