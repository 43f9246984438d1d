"""GET /health: is the API up and can it read the database (readiness: 503 when it cannot)."""

from fastapi import APIRouter, Response

from .. import services
from ..deps import SettingsDep, StoreDep
from ..schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    responses={503: {"model": HealthOut, "description": "The database is unreachable (same body)."}},
)
def read_health(store: StoreDep, settings: SettingsDep, response: Response) -> HealthOut:
    """`status: ok` (200) when a database read succeeds, else `unavailable` with the reason (503)."""
    result = services.health(store, settings)
    if result.database != "ok":
        response.status_code = 503
    return result
