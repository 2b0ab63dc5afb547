"""Wire models and small helpers shared by the client and the server."""
