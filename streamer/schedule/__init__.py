"""The program of an event: model, YAML loader with line-numbered errors, importers."""
