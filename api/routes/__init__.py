"""All routers, collected in one place: `/health` and the versioned `/v1/...` resources."""

from fastapi import APIRouter

from . import datasets, health, recommendation, searches

api_router = APIRouter()
api_router.include_router(health.router)
v1 = APIRouter(prefix="/v1")
v1.include_router(datasets.router)
v1.include_router(recommendation.router)
v1.include_router(searches.router)
api_router.include_router(v1)

__all__ = ["api_router"]
