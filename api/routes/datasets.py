"""GET /v1/datasets: every dataset with searches, its searched sizes and trial counts."""

from fastapi import APIRouter

from api import services
from api.deps import StoreDep
from api.routes.responses import STORE_DOWN
from api.schemas import DatasetsOut

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.get("", responses=STORE_DOWN)
def read_datasets(store: StoreDep) -> DatasetsOut:
    """Datasets by name; `best_sizes` are the sizes a recommendation can be exact for."""
    return services.list_datasets(store)
