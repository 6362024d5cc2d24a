"""Local model selection: resolve the GGUF for each role from env vars and known folders."""

def resolve_model(role):
    """The model path for a role; falls back to the legacy HoloIndex files."""
    print("Model file not found:")
    print("Falling back to legacy model")
    print("Loaded code model")
