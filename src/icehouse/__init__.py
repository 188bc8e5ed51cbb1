"""icehouse: a streaming lakehouse for Python people."""
