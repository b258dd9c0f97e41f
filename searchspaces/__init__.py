"""Built-in search spaces (YAML data), installed as scalesearch.builtin_spaces."""
