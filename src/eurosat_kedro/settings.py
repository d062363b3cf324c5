"""Project settings: configuration loading and the environments."""

from kedro.config import OmegaConfigLoader

from eurosat_kedro.hooks import (
    CloseMlflowRuns,
    ConfigResolvers,
    MlflowHook,
    SparkHooks,
    TeacherFileCheck,
    TrackingServerCheck,
)

# kedro-mlflow's hook is registered here, as eurosat_kedro.hooks.MlflowHook (kedro-mlflow's own
# with the project's rules: resumed runs, the experiment's kind), instead of by the plugin.
# Registered last, it runs before the other plain hooks, as the plugin's did.
HOOKS = (
    ConfigResolvers(),
    TrackingServerCheck(),
    TeacherFileCheck(),
    CloseMlflowRuns(),
    SparkHooks(),
    MlflowHook(),
)
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")  # its distribution name, either way

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment (e.g. `sample`) overrides single keys, not whole top-level blocks.
    "merge_strategy": {"parameters": "soft", "mlflow": "soft", "spark": "soft"},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"], "spark": ["spark*", "spark*/**"]},
}
