"""The hand-written PyTorch training loop, apart from the Kedro node that calls it."""
