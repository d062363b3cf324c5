"""Plain-Python building blocks for the EuroSAT data: fetching, extracting, indexing, splitting.

Nothing here imports Kedro; nodes and datasets call these functions.
"""
