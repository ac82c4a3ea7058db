"""dualjit.numpy.linalg: linear algebra (filled in by the linalg work)."""
