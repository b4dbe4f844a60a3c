"""One module per `hwnas` verb."""
