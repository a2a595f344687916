"""File helpers where ZenML users import them from (`from fanflow.io import fileio`)."""
