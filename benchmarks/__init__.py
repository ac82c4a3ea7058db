def have(module: str) -> bool:
    """Whether a peer library (jax, torch, numba...) imports here: benchmarks time the peers
    that are installed and skip the others (any error on import counts as absent)."""
    try:
        __import__(module)
        return True
    except Exception:
        return False
