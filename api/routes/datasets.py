"""GET /v1/datasets: every dataset with searches, its searched sizes and trial counts."""

from fastapi import APIRouter

from .. import services
from ..deps import StoreDep
from ..schemas import DatasetsOut
from .responses import STORE_DOWN

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.get("", responses=STORE_DOWN)
def read_datasets(store: StoreDep) -> DatasetsOut:
    """Datasets by name; `best_sizes` are the sizes a recommendation can be exact for."""
    return services.list_datasets(store)
