"""The served model as code (MLflow "models from code"): MLflow runs this file to build the
model when it loads the folder, so nothing is unpickled and the folder does not depend on the
saving process's cloudpickle or Python version."""

from mlflow.models import set_model

from eurosat_kedro.serving.pyfunc import EuroSatPyfunc

set_model(EuroSatPyfunc())
