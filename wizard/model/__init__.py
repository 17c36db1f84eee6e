"""The answers: the model, its YAML file, its secrets and the value rules of each output format."""
