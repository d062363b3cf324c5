"""Project settings: configuration loading and the environments."""

from kedro.config import OmegaConfigLoader

from eurosat_kedro.hooks import (
    CloseMlflowRuns,
    ConfigResolvers,
    SparkHooks,
    TrackingServerCheck,
)

HOOKS = (ConfigResolvers(), TrackingServerCheck(), CloseMlflowRuns(), SparkHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment (e.g. `sample`) overrides single keys, not whole top-level blocks.
    "merge_strategy": {"parameters": "soft", "mlflow": "soft", "spark": "soft"},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"], "spark": ["spark*", "spark*/**"]},
}
