"""One module per command. Each defines the command's function (typer options, help text and
the work, with heavy imports inside the function); azbdiag/cli.py registers them on the app in
azbdiag/app.py, behind its error guard."""
