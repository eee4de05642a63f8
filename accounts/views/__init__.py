"""Server-rendered pages of the accounts app, one module per topic."""
